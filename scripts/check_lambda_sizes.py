#!/usr/bin/env python3
"""Report each Lambda's unzipped size with its layers against the 250 MB limit, and check wheels.

    python scripts/check_lambda_sizes.py            # sizes from an existing .aws-sam/build
    python scripts/check_lambda_sizes.py --build    # run `sam build` first (needs PyPI, no Docker)
    python scripts/check_lambda_sizes.py --wheels   # check every layer requirement has a wheel

The wheel check runs `pip download --only-binary=:all:` for the runtime's
Python version and architecture, so a dependency that would need compiling on
Lambda's Amazon Linux fails here instead of at deploy time. Exit status 1 when
a function is over the limit or a wheel is missing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "template.yaml"
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
# Lambda's quota for a function and all its layers, unzipped: 250 MB = 262,144,000 bytes.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
PYTHON_VERSION = "3.13"
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_28_x86_64"]


class _TemplateLoader(yaml.SafeLoader):
    """Load CloudFormation YAML, keeping short-form intrinsic functions such as !Ref as plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


def function_layers(template: dict) -> dict[str, list[str]]:
    """Map each function's logical id to the logical ids of its layers, global ones included."""
    global_layers = [layer["Ref"] for layer in template.get("Globals", {}).get("Function", {}).get("Layers", [])]
    result = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        own = [layer["Ref"] for layer in resource["Properties"].get("Layers", [])]
        result[logical_id] = global_layers + own
    return result


def directory_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file_path = Path(root) / name
            if not file_path.is_symlink():
                total += file_path.stat().st_size
    return total


def report_sizes(template: dict, build_dir: Path) -> bool:
    ok = True
    layer_sizes: dict[str, int] = {}
    print(f"{'function':<28}{'code MB':>10}{'layers MB':>12}{'total MB':>11}  status")
    for function, layers in sorted(function_layers(template).items()):
        code_dir = build_dir / function
        if not code_dir.is_dir():
            print(f"{function:<28} missing from {build_dir}: run with --build")
            ok = False
            continue
        for layer in layers:
            if layer not in layer_sizes:
                layer_sizes[layer] = directory_size(build_dir / layer)
        code = directory_size(code_dir)
        layered = sum(layer_sizes[layer] for layer in layers)
        total = code + layered
        over = total > UNZIPPED_LIMIT_BYTES
        ok = ok and not over
        print(f"{function:<28}{code / 1e6:>10.1f}{layered / 1e6:>12.1f}{total / 1e6:>11.1f}  {'OVER 250 MB' if over else 'ok'}")
    return ok


def check_wheels(python_version: str = PYTHON_VERSION) -> bool:
    ok = True
    platform_args = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    for requirements in sorted((REPO_ROOT / "layers").glob("*/requirements*.txt")):
        # A layer's requirements-no-deps.txt is installed without dependencies, so it is checked without them.
        no_deps = ["--no-deps"] if requirements.name == "requirements-no-deps.txt" else []
        with tempfile.TemporaryDirectory() as download_dir:
            command = [
                sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *platform_args, *no_deps,
                "--implementation", "cp", "--python-version", python_version,
                "-r", str(requirements), "-d", download_dir,
            ]
            completed = subprocess.run(command, capture_output=True, text=True)
        layer = f"{requirements.parent.name} ({requirements.name})"
        if completed.returncode == 0:
            print(f"wheels ok: layer {layer} (cp{python_version.replace('.', '')}, {', '.join(PLATFORMS)})")
        else:
            ok = False
            last_line = (completed.stderr.strip().splitlines() or ["pip failed"])[-1]
            print(f"wheels MISSING: layer {layer}: {last_line}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="run `sam build` before measuring")
    parser.add_argument("--wheels", action="store_true", help="check that every layer requirement has a wheel for the runtime")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help="sam build output directory (default: .aws-sam/build)")
    arguments = parser.parse_args()

    ok = True
    if arguments.wheels:
        ok = check_wheels() and ok
    if arguments.build:
        subprocess.run(["sam", "build"], cwd=REPO_ROOT, check=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    if arguments.build or arguments.build_dir.is_dir():
        ok = report_sizes(load_template(), arguments.build_dir) and ok
    elif not arguments.wheels:
        print(f"{arguments.build_dir} does not exist: run with --build")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
