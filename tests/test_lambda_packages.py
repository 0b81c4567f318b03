"""Lambda layers: the prune rules, the layer lists in template.yaml, and (slow) every handler run against its built layers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PRUNE = REPO_ROOT / "layers" / "prune.py"
# Lambda's maximum of layers per function.
MAX_LAYERS = 5
# Size goal, in the MB (10^6 bytes) that check_lambda_sizes.py prints, below Lambda's 250 MB (262,144,000 bytes)
# unzipped limit, so a dependency update does not tip a function over.
TARGET_BYTES = 235_000_000


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sizes():
    return load(REPO_ROOT / "scripts" / "check_lambda_sizes.py", "check_lambda_sizes")


@pytest.fixture(scope="module")
def layers_of(sizes) -> dict[str, list[str]]:
    return sizes.function_layers(sizes.load_template())


def make_distribution(python_dir: Path, name: str, files: dict[str, str]) -> None:
    """Write a minimal installed distribution: its files and a dist-info with METADATA and RECORD."""
    info = python_dir / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for relative, text in files.items():
        path = python_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    record = [f"{relative},," for relative in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


def run_prune(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PRUNE), *arguments], capture_output=True, text=True, check=True)


def test_prune_drops_named_distribution(tmp_path):
    layer = tmp_path / "python"
    make_distribution(layer, "grpcio", {"grpc/__init__.py": ""})
    make_distribution(layer, "opensearch-py", {"opensearchpy/__init__.py": ""})

    run_prune(str(layer), "--drop", "grpcio")

    assert not (layer / "grpc").exists()
    assert not (layer / "grpcio-1.0.dist-info").exists()
    assert (layer / "opensearchpy" / "__init__.py").is_file()


def test_prune_removes_provided_distribution(tmp_path):
    layer = tmp_path / "layer"
    base = tmp_path / "base"
    make_distribution(layer, "requests", {"requests/__init__.py": ""})
    make_distribution(layer, "langgraph", {"langgraph/__init__.py": ""})
    make_distribution(base, "requests", {"requests/__init__.py": ""})

    run_prune(str(layer), str(base))

    assert not (layer / "requests").exists()
    assert (layer / "langgraph" / "__init__.py").is_file()


def test_prune_removes_unloaded_files(tmp_path):
    layer = tmp_path / "python"
    make_distribution(
        layer,
        "onnxruntime",
        {
            "onnxruntime/__init__.py": "",
            "onnxruntime/capi/_pybind_state.py": "",
            "onnxruntime/tools/convert.py": "",
            "onnxruntime/transformers/optimizer.py": "",
            "onnxruntime/__pycache__/__init__.cpython-311.pyc": "",
            "onnxruntime/__init__.pyi": "",
        },
    )
    make_distribution(layer, "numpy", {"numpy/__init__.py": "", "numpy/_core/tests/test_api.py": "", "numpy/_core/include/numpy/ndarrayobject.h": ""})
    (layer / "bin").mkdir()
    (layer / "bin" / "f2py").write_text("#!/usr/bin/python3\n")

    run_prune(str(layer))

    assert (layer / "onnxruntime" / "capi" / "_pybind_state.py").is_file()
    assert not (layer / "onnxruntime" / "tools").exists()
    assert not (layer / "onnxruntime" / "transformers").exists()
    assert not (layer / "onnxruntime" / "__pycache__").exists()
    assert not (layer / "onnxruntime" / "__init__.pyi").exists()
    assert not (layer / "numpy" / "_core" / "tests").exists()
    assert not (layer / "numpy" / "_core" / "include").exists()
    assert not (layer / "bin").exists()
    assert (layer / "numpy" / "__init__.py").is_file()


def test_prune_keeps_testing_module(tmp_path):
    layer = tmp_path / "python"
    make_distribution(layer, "numpy", {"numpy/__init__.py": "", "numpy/testing/__init__.py": ""})

    run_prune(str(layer))

    assert (layer / "numpy" / "testing" / "__init__.py").is_file()


def test_layers_at_most_five(layers_of):
    for function, layers in layers_of.items():
        assert len(layers) <= MAX_LAYERS, function


def test_layers_agent_needs_bedrock(layers_of):
    """The agent layer is pruned against the Bedrock layer, so it ships no langchain-core of its own."""
    for function, layers in layers_of.items():
        if "AgentLayer" in layers:
            assert "BedrockLayer" in layers, function


def test_layers_store_functions_have_embedders(layers_of):
    """Functions that open the store need the MiniLM embedder (QueryLayer), the Bedrock one and opensearch-py."""
    for function in ("IndexDocumentFunction", "RemoveDocumentFunction", "RecordFailureFunction", "QueryApiFunction"):
        assert {"QueryLayer", "ProvidersLayer", "BedrockLayer"} <= set(layers_of[function]), function


def test_layers_query_has_agent(layers_of):
    assert "AgentLayer" in layers_of["QueryApiFunction"]


@pytest.mark.slow
def test_lambda_sizes_under_target(sizes, layers_of, sam_build):
    assert sam_build.returncode == 0, sam_build.output
    build_dir = sam_build.build_dir
    layer_sizes = {layer: sizes.directory_size(build_dir / layer) for layer in {layer for layers in layers_of.values() for layer in layers}}

    for function, layers in layers_of.items():
        total = sizes.directory_size(build_dir / function) + sum(layer_sizes[layer] for layer in layers)
        assert total <= TARGET_BYTES, f"{function}: {total / 1e6:.1f} MB unzipped with its layers"


@pytest.mark.slow
def test_lambda_handlers_import_with_layers(tmp_path):
    """Build every layer for this interpreter and run each handler's import and first-call work in isolation."""
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "check_layer_imports.py"), "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    report = completed.stdout[-6000:] + completed.stderr[-2000:]

    assert completed.returncode == 0, report
    assert "FAILED" not in completed.stdout, report
    assert "QueryApiFunction" in completed.stdout, report
