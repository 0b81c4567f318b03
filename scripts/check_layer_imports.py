#!/usr/bin/env python3
"""Import each Lambda handler with only its own code and layers on sys.path, and run the heavy first-call work.

    python scripts/check_layer_imports.py                     # build the layers for this interpreter, then check
    python scripts/check_layer_imports.py --work-dir /tmp/lb  # keep (and reuse) the build in /tmp/lb
    python scripts/check_layer_imports.py --build-dir .aws-sam/build \
        --python ~/.pyenv/versions/3.13.0/bin/python3.13      # check `sam build` output with a 3.13 interpreter

The build runs every layer's and function's own Makefile target, as `sam build`
does, with PYTHON_VERSION set to the checking interpreter's version: the same
requirements and the same prune rules, for cp3XX manylinux x86_64 wheels.

Each function's layers are hard-linked into one `opt/python` folder in template
order, as Lambda unpacks them into /opt, and a file shipped by two layers of one
function is reported as an error. Then a fresh `python -I -S` process gets only
the function's code folder, that folder and a boto3 install (the Lambda runtime
provides boto3) on sys.path, the template's environment variables with
placeholder values, and fake AWS credentials. It imports the handler module,
which runs its module-level initialization, and then does what the first
requests do: one MiniLM embedding with onnxruntime (query layer), an offline
agent answer through the compiled LangGraph graph (agent layer), a SigV4-signed
OpenSearch request built but not sent (providers layer), the Bedrock chat model
and embedder (Bedrock layer), a page rendered with pypdfium2 (parsing layer) and a
Mistral client (Mistral layer). The OCR function also runs Tesseract and the
local parser on one page. No check sends a network request.

Exit status 1 when any function fails. Only the standard library is imported at
module level, because the same file runs as the probe inside the isolated process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT_SECONDS = 600
BUILD_TIMEOUT_SECONDS = 3600
FAKE_ACCOUNT = "123456789012"
FAKE_REGION = "us-east-1"
FAKE_STACK = "ragagent"
# Placeholders for the template's !Ref and !GetAtt values that are not parameters.
RESOURCE_PLACEHOLDERS = {
    "StatusTable": f"{FAKE_STACK}-StatusTable-PROBE",
    "AWS::StackName": FAKE_STACK,
    "AWS::AccountId": FAKE_ACCOUNT,
    "AWS::Region": FAKE_REGION,
    "AWS::Partition": "aws",
    "Collection.CollectionEndpoint": "https://probe0123456789.us-east-1.aoss.amazonaws.com",
}
RUNTIME_PACKAGES = ["boto3"]
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_28_x86_64"]
LAMBDA_OPT_PYTHON = "/opt/python"
# Checks run after the handler import, keyed by the layer whose packages they exercise.
LAYER_CHECKS = {
    "QueryLayer": "embedding",
    "AgentLayer": "agent",
    "ProvidersLayer": "opensearch",
    "BedrockLayer": "bedrock",
    "ParsingLayer": "parsing",
    "MistralLayer": "mistral",
}
# Checks of what only one function does with its layers.
FUNCTION_CHECKS = {"OcrBatchFunction": ["ocr"]}


# --- parent side: build, assemble, run --------------------------------------


def _sizes_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_lambda_sizes", REPO_ROOT / "scripts" / "check_lambda_sizes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_version(python: str) -> str:
    completed = subprocess.run([python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"], capture_output=True, text=True, check=True)
    return completed.stdout.strip()


def build_resources(template: dict, out_dir: Path, version: str) -> None:
    """Run each layer's and function's Makefile target into `out_dir/<logical id>`, skipping finished ones."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        source = properties.get("ContentUri") or properties.get("CodeUri")
        if resource["Type"] not in ("AWS::Serverless::LayerVersion", "AWS::Serverless::Function") or source is None:
            continue
        target = out_dir / logical_id
        if target.is_dir():
            continue
        partial = out_dir / f".{logical_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        command = ["make", "--no-print-directory", "-C", str(REPO_ROOT / source), f"build-{logical_id}", f"ARTIFACTS_DIR={partial}", f"PYTHON_VERSION={version}"]
        print(f"building {logical_id} for Python {version}", flush=True)
        subprocess.run(command, check=True, timeout=BUILD_TIMEOUT_SECONDS)
        partial.rename(target)


def install_runtime(out_dir: Path, version: str) -> Path:
    """Install what the Lambda Python runtime itself provides (boto3) into `out_dir/runtime`."""
    runtime = out_dir / "runtime"
    if not runtime.is_dir():
        partial = out_dir / ".runtime.partial"
        shutil.rmtree(partial, ignore_errors=True)
        platform_args = [argument for platform in PLATFORMS for argument in ("--platform", platform)]
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(partial), *platform_args,
            "--implementation", "cp", "--python-version", version, "--only-binary=:all:", *RUNTIME_PACKAGES,
        ]
        subprocess.run(command, check=True, timeout=BUILD_TIMEOUT_SECONDS)
        partial.rename(runtime)
    return runtime


def assemble_opt(layer_dirs: list[Path], opt_dir: Path) -> list[str]:
    """Hard-link the layers' files into `opt_dir` in order, later layers winning; return files shipped twice."""
    shutil.rmtree(opt_dir, ignore_errors=True)
    opt_dir.mkdir(parents=True)
    duplicates = []
    for layer_dir in layer_dirs:
        for root, _, files in os.walk(layer_dir):
            for name in files:
                source = Path(root) / name
                relative = source.relative_to(layer_dir)
                destination = opt_dir / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                if destination.exists() or destination.is_symlink():
                    if "__pycache__" not in relative.parts:
                        duplicates.append(str(relative))
                    destination.unlink()
                try:
                    os.link(source, destination, follow_symlinks=False)
                except OSError:
                    shutil.copy2(source, destination, follow_symlinks=False)
    return duplicates


def substitute(value: Any, parameters: dict[str, str]) -> str:
    """Resolve a template value to a string, with parameter defaults and placeholders for resources."""
    import re

    known = {**RESOURCE_PLACEHOLDERS, **parameters}
    if isinstance(value, (str, int, float)):
        return str(value)
    if "Ref" in value:
        return known[value["Ref"]]
    if "Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: known[match.group(1)], value["Sub"])
    if "If" in value:
        _, when_true, when_false = value["If"]
        # CreateCollection is true with the default empty OpenSearchEndpoint.
        return substitute(when_true if parameters.get("OpenSearchEndpoint", "") == "" else when_false, parameters)
    raise ValueError(f"template value {value!r} is not supported by this check: extend substitute()")


def function_environment(template: dict, function: str) -> dict[str, str]:
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    global_variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own_variables = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return {name: substitute(value, parameters) for name, value in {**global_variables, **own_variables}.items()}


def probe_environment(variables: dict[str, str], home: Path) -> dict[str, str]:
    """Build the probe's environment: Lambda's variables, fake credentials and the template's variables, nothing from this shell."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_DEFAULT_REGION": FAKE_REGION,
        "AWS_REGION": FAKE_REGION,
        "AWS_ACCESS_KEY_ID": "AKIAPROBEPROBEPROBE0",
        "AWS_SECRET_ACCESS_KEY": "probe-secret-not-a-real-key",
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_EC2_METADATA_DISABLED": "true",
        # No X-Ray daemon runs here, so the Tracer is switched off.
        "POWERTOOLS_TRACE_DISABLED": "true",
        **variables,
    }


def check_function(
    python: str, template: dict, function: str, layers: list[str], build_dir: Path, runtime: Path, work_dir: Path
) -> dict[str, Any]:
    code_dir = build_dir / function
    opt_dir = work_dir / "opt" / function
    duplicates = assemble_opt([build_dir / layer for layer in layers], opt_dir)

    checks = [LAYER_CHECKS[layer] for layer in layers if layer in LAYER_CHECKS] + FUNCTION_CHECKS.get(function, [])
    home = work_dir / "home" / function
    home.mkdir(parents=True, exist_ok=True)
    config = {
        "path": [str(code_dir), str(opt_dir / "python"), str(runtime)],
        "handler": template["Resources"][function]["Properties"]["Handler"],
        "checks": checks,
        "sample_pdf": str(REPO_ROOT / "documents" / "rotated_nics_background_checks_table.pdf"),
        "opt": str(opt_dir / "python"),
        "prefix": str(home),
    }
    variables = function_environment(template, function)
    for name, value in variables.items():
        if value.startswith(LAMBDA_OPT_PYTHON):
            variables[name] = str(opt_dir / "python") + value.removeprefix(LAMBDA_OPT_PYTHON)

    command = [python, "-I", "-S", str(Path(__file__).resolve()), "--probe", json.dumps(config)]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=probe_environment(variables, home), cwd=home, timeout=PROBE_TIMEOUT_SECONDS
    )
    shutil.rmtree(opt_dir, ignore_errors=True)

    result: dict[str, Any] = {"function": function, "layers": layers, "checks": checks, "duplicates": duplicates}
    lines = completed.stdout.strip().splitlines()
    try:
        result.update(json.loads(lines[-1]))
    except (IndexError, json.JSONDecodeError):
        pass
    if completed.returncode != 0 and "error" not in result:
        result["error"] = f"probe exited with {completed.returncode}: {completed.stderr.strip()[-3000:]}"
    return result


def unused_distributions(opt_dir: Path, imported: set[str]) -> list[str]:
    """Names of the distributions in `opt_dir` that ship no module the probe imported."""
    unused = []
    for record in sorted(opt_dir.glob("*.dist-info/RECORD")):
        tops = set()
        for line in record.read_text().splitlines():
            first = line.split(",", 1)[0].split("/", 1)[0]
            if first and not first.endswith((".dist-info", ".data")) and first not in ("..", "bin", "__pycache__"):
                tops.add(first.removesuffix(".py").split(".", 1)[0])
        if tops and not tops & imported:
            unused.append(record.parent.name.split("-", 1)[0])
    return unused


def run_checks(python: str, build_dir: Path, work_dir: Path, selected: list[str] | None, build: bool) -> bool:
    sizes = _sizes_module()
    template = sizes.load_template()
    version = python_version(python)
    if build:
        build_resources(template, build_dir, version)
    runtime = install_runtime(work_dir, version)

    ok = True
    for function, layers in sorted(sizes.function_layers(template).items()):
        if selected and function not in selected:
            continue
        result = check_function(python, template, function, layers, build_dir, runtime, work_dir)
        failed = bool(result.get("error")) or bool(result["duplicates"])
        ok = ok and not failed
        status = "FAILED" if failed else "ok"
        print(f"{function:<28}{status:<8}checks: {', '.join(['handler', *result['checks']])}  ({result.get('seconds', 0):.1f} s)")
        if result["duplicates"]:
            print(f"    files shipped by two layers: {', '.join(result['duplicates'][:10])}")
        if result.get("error"):
            print("    " + result["error"].replace("\n", "\n    "))
        if result.get("unused"):
            print(f"    distributions never imported: {', '.join(result['unused'])}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the handlers (default: this one)")
    parser.add_argument("--build-dir", type=Path, help="check an existing build (such as .aws-sam/build) instead of building")
    parser.add_argument("--work-dir", type=Path, help="folder for the build and scratch files, kept and reused (default: a temporary folder)")
    parser.add_argument("--function", action="append", dest="functions", help="check only this function (repeatable)")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.probe:
        return probe(json.loads(arguments.probe))

    with tempfile.TemporaryDirectory(prefix="ragagent-layers-") as temporary:
        work_dir = (arguments.work_dir or Path(temporary)).resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        build_dir = arguments.build_dir.resolve() if arguments.build_dir else work_dir / "build"
        ok = run_checks(arguments.python, build_dir, work_dir, arguments.functions, build=arguments.build_dir is None)
    return 0 if ok else 1


# --- child side: runs under `python -I -S` with only the function's paths -----


def probe(config: dict) -> int:
    import time

    sys.path[:0] = config["path"]
    # Lambda's interpreter prefix (/var/lang) contains no layer data, but this
    # interpreter's prefix may (such as share/tessdata), so point it at an empty folder.
    sys.prefix = sys.base_prefix = sys.exec_prefix = sys.base_exec_prefix = config["prefix"]
    started = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        import importlib

        module_name, _, handler_name = config["handler"].rpartition(".")
        module = importlib.import_module(module_name)
        if not callable(getattr(module, handler_name, None)):
            raise AttributeError(f"{config['handler']}: the module has no callable {handler_name!r}")
        for check in config["checks"]:
            CHILD_CHECKS[check](config)
    except BaseException:  # noqa: BLE001 - every failure is reported to the parent as text
        result["error"] = traceback.format_exc()
    result["seconds"] = time.perf_counter() - started
    imported = {name.split(".", 1)[0] for name in list(sys.modules)}
    result["unused"] = unused_distributions(Path(config["opt"]), imported)
    print(json.dumps(result))
    return 1 if "error" in result else 0


def check_embedding(config: dict) -> None:
    import numpy as np

    from ragagent.embedding.minilm import DIMENSION, MiniLMEmbedder

    vector = MiniLMEmbedder().embed_query("What does the rotated table report?")
    if vector.shape != (DIMENSION,) or not np.isclose(float(np.linalg.norm(vector)), 1.0, atol=1e-3):
        raise AssertionError(f"MiniLM returned a vector of shape {vector.shape} and norm {np.linalg.norm(vector)}")


def check_agent(config: dict) -> None:
    from ragagent.embedding.minilm import MiniLMEmbedder
    from ragagent.factory import build_agent
    from ragagent.models import Chunk
    from ragagent.settings import Settings
    from ragagent.store.local import LocalStore

    texts = [
        "The background check system processed 1.2 million transactions in March.",
        "Handgun permits rose in every state that reported to the system.",
        "The table lists monthly totals by state and by permit type.",
    ]
    store_dir = Path(tempfile.mkdtemp(prefix="probe-store-"))
    embedder = MiniLMEmbedder()
    chunks = [
        Chunk(chunk_id=f"probe-{index}", document_id="probe", source="probe.pdf", pages=[1], position=index, text=text)
        for index, text in enumerate(texts)
    ]
    LocalStore.open(store_dir, embedder).replace_document("probe", chunks, embedder.embed_documents(texts))

    agent = build_agent(Settings(store=str(store_dir), embedder="minilm", chat="offline"))
    answer = agent.ask("How many transactions did the background check system process?")
    if not answer.steps:
        raise AssertionError(f"the agent graph ran no step: {answer!r}")


def check_opensearch(config: dict) -> None:
    import boto3
    import requests
    from opensearchpy import AWSV4SignerAuth, OpenSearch

    from ragagent.store.opensearch import build_client, parse_opensearch_url

    url = os.environ["RAGAGENT_STORE"]
    client = build_client(parse_opensearch_url(url), auth="sigv4", service="aoss", region=os.environ["AWS_DEFAULT_REGION"])
    if not isinstance(client, OpenSearch):
        raise AssertionError(f"build_client returned {type(client)!r}")

    # Sign a request as the client's connection does, without sending it.
    signer = AWSV4SignerAuth(boto3.Session().get_credentials(), os.environ["AWS_DEFAULT_REGION"], "aoss")
    prepared = signer(requests.Request("GET", f"{url}/_search", data=b"{}").prepare())
    if "Authorization" not in prepared.headers:
        raise AssertionError("AWSV4SignerAuth did not sign the request")


def check_bedrock(config: dict) -> None:
    from ragagent.embedding.bedrock import BedrockEmbedder
    from ragagent.providers.bedrock import bedrock_runtime_client, build_bedrock_chat_model
    from ragagent.settings import Settings

    settings = Settings()
    client = bedrock_runtime_client(settings)
    build_bedrock_chat_model(settings, client)
    BedrockEmbedder(client, model_id=settings.bedrock_embedding_model, dimension=settings.embedding_dimension)


def first_page_pdf(path: str) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(path).pages[0])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def check_parsing(config: dict) -> None:
    import pypdfium2

    document = pypdfium2.PdfDocument(first_page_pdf(config["sample_pdf"]))
    image = document[0].render(scale=0.5).to_pil()
    if image.width == 0 or image.height == 0:
        raise AssertionError("pypdfium2 rendered an empty page")


def check_ocr(config: dict) -> None:
    from PIL import Image

    from ragagent.models import DocumentRef, PageBatch
    from ragagent.parsing.local import LocalParser
    from ragagent.parsing.tesseract import TesseractOcr

    text = TesseractOcr("eng").read(Image.new("L", (240, 80), 255), "probe page")
    if text is None:
        raise AssertionError("Tesseract did not start: no language data found (set TESSDATA_PREFIX)")

    document = DocumentRef.from_uri("s3://probe/documents/probe.pdf", "probe.pdf")
    batch = PageBatch(document=document, batch_index=0, first_page=1, page_count=1, pdf=first_page_pdf(config["sample_pdf"]))
    response = LocalParser().parse(batch)
    if len(response.pages) != 1:
        raise AssertionError(f"LocalParser returned {len(response.pages)} pages for 1")


def check_mistral(config: dict) -> None:
    from mistralai.client import Mistral

    Mistral(api_key="probe-key-not-used")


CHILD_CHECKS = {
    "embedding": check_embedding,
    "agent": check_agent,
    "opensearch": check_opensearch,
    "bedrock": check_bedrock,
    "parsing": check_parsing,
    "ocr": check_ocr,
    "mistral": check_mistral,
}


if __name__ == "__main__":
    sys.exit(main())
