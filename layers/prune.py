"""Delete from a built layer what Lambda never loads: provided packages, unused distributions and files.

    python prune.py LAYER_PYTHON_DIR [PROVIDED_PYTHON_DIR ...] [--drop DISTRIBUTION ...]

A function and its layers share Lambda's 250 MB unzipped limit, so this script removes:

- distributions that another layer (each PROVIDED_PYTHON_DIR) or the Lambda
  runtime already provides. Layers unpack into the same /opt/python, so a second
  copy only costs space. The Python runtimes contain boto3, botocore and
  s3transfer, so no layer ships them;
- the distributions named with --drop, which a requirement declares but no
  module on ragagent's run-time paths imports. Each Makefile says why;
- files that no import loads: the build machine's __pycache__ (bytecode for
  its Python version, which the runtime's Python ignores), console scripts in
  bin/, type stubs, test suites, C headers, and the onnxruntime
  sub-packages for model conversion and quantization.

scripts/check_layer_imports.py builds the layers with these rules and runs every
handler and its first-call work against them.
"""

from __future__ import annotations

import argparse
import shutil
from importlib.metadata import Distribution
from pathlib import Path

RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer"}

# Folders, relative to the layer's python/ folder, that no run-time import reaches.
UNUSED_FOLDERS = [
    "bin",  # console scripts; Lambda puts /opt/bin on PATH, not /opt/python/bin
    "numpy/_core/include",  # C headers for building extensions
    "numpy/f2py",  # Fortran wrapper generator, imported only on numpy.f2py access
    "onnxruntime/tools",  # model conversion and ORT-format tools; they import onnx, which is not installed
    "onnxruntime/transformers",  # transformer graph optimizers; they import onnx and torch
    "onnxruntime/quantization",  # model quantization; it imports onnx
]
# Folder names removed wherever they occur.
UNUSED_FOLDER_NAMES = {"__pycache__", "tests"}
UNUSED_SUFFIXES = (".pyi",)


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed(python_dir: Path) -> dict[str, Distribution]:
    found = {}
    for info in python_dir.glob("*.dist-info"):
        distribution = Distribution.at(info)
        found[normalize(distribution.metadata["Name"])] = distribution
    return found


def remove(distribution: Distribution, python_dir: Path) -> None:
    for file in distribution.files or []:
        path = (python_dir / file).resolve()
        if path.is_relative_to(python_dir.resolve()) and path.is_file():
            path.unlink()
    shutil.rmtree(Path(distribution._path), ignore_errors=True)  # the .dist-info folder itself


def remove_unused_files(layer: Path) -> int:
    """Delete the folders and files that no import loads; return the bytes freed."""
    doomed = [layer / folder for folder in UNUSED_FOLDERS if (layer / folder).is_dir()]
    doomed += [path for path in layer.rglob("*") if path.is_dir() and (path.name in UNUSED_FOLDER_NAMES or path.name.endswith("-stubs"))]
    doomed += [path for path in layer.rglob("*") if path.is_file() and path.name.endswith(UNUSED_SUFFIXES)]

    freed = 0
    for path in doomed:
        if path.is_dir():
            freed += sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            freed += path.stat().st_size
            path.unlink()
    return freed


def remove_empty_folders(layer: Path) -> None:
    for folder in sorted((path for path in layer.rglob("*") if path.is_dir()), key=lambda path: len(path.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def prune(layer: Path, provided_dirs: list[Path], drop: list[str]) -> None:
    provided = set(RUNTIME_PROVIDED)
    for directory in provided_dirs:
        provided |= set(installed(directory))
    dropped = {normalize(name) for name in drop}

    distributions = installed(layer)
    for name in sorted(dropped - set(distributions)):
        print(f"--drop {name}: not installed in {layer}; remove it from the Makefile if it is no longer a dependency")
    for name, distribution in distributions.items():
        if name in provided:
            remove(distribution, layer)
            print(f"pruned {name} from {layer}: another layer or the runtime provides it")
        elif name in dropped:
            remove(distribution, layer)
            print(f"pruned {name} from {layer}: never imported at run time")

    freed = remove_unused_files(layer)
    remove_empty_folders(layer)
    print(f"removed {freed / 1e6:.1f} MB of files no import loads from {layer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer", type=Path, help="the built layer's python/ folder")
    parser.add_argument("provided", type=Path, nargs="*", help="folders whose distributions this layer must not repeat")
    parser.add_argument("--drop", action="append", default=[], metavar="DISTRIBUTION", help="distribution that no run-time import needs (repeatable)")
    arguments = parser.parse_args()
    prune(arguments.layer, arguments.provided, arguments.drop)


if __name__ == "__main__":
    main()
