"""template.yaml: `sam validate --lint`, and the wiring between the template, the functions and the definition."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "check_lambda_sizes.py"


def load_script():
    spec = importlib.util.spec_from_file_location("check_lambda_sizes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template() -> dict:
    return load_script().load_template()


@pytest.mark.skipif(shutil.which("sam") is None, reason="aws-sam-cli is not installed")
def test_sam_validate_lint():
    completed = subprocess.run(
        ["sam", "validate", "--lint", "--template-file", "template.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        timeout=300,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "is a valid SAM Template" in completed.stdout + completed.stderr


def test_sam_every_function_folder_in_template(template):
    code_uris = {resource["Properties"]["CodeUri"].rstrip("/") for resource in template["Resources"].values() if resource["Type"] == "AWS::Serverless::Function"}
    folders = {f"functions/{path.name}" for path in (REPO_ROOT / "functions").iterdir() if (path / "app.py").is_file()}

    assert code_uris == folders


def test_sam_every_function_has_makefile_target(template):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            continue
        assert resource["Metadata"]["BuildMethod"] == "makefile", logical_id
        folder = resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]
        makefile = (REPO_ROOT / folder / "Makefile").read_text()
        assert f"build-{logical_id}:" in makefile, logical_id


def test_sam_substitutions_cover_definitions(template):
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        text = (REPO_ROOT / resource["Properties"]["DefinitionUri"]).read_text()
        placeholders = set(re.findall(r"\$\{(\w+)\}", text))
        assert placeholders == set(resource["Properties"]["DefinitionSubstitutions"]), resource["Properties"]["DefinitionUri"]


def test_sam_api_default_iam_auth(template):
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]

    assert auth["DefaultAuthorizer"] == "AWS_IAM"


def test_sam_mistral_key_only_by_reference(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert variables["RAGAGENT_MISTRAL_API_KEY"] == {"Sub": "ssm:/${MistralApiKeyParameter}"}


def test_sam_functions_have_own_timeouts(template):
    functions = [resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Serverless::Function"]

    assert all("Timeout" in function["Properties"] and "MemorySize" in function["Properties"] for function in functions)
    query = template["Resources"]["QueryApiFunction"]["Properties"]
    assert query["Timeout"] < 30


def test_sam_sample_event_per_function(template):
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            name = Path(resource["Properties"]["CodeUri"]).name
            event = json.loads((REPO_ROOT / "events" / f"{name}.json").read_text())
            assert event, name


def test_sam_sample_created_event_key_needs_decoding():
    event = json.loads((REPO_ROOT / "events" / "start_ingestion.json").read_text())
    from ragagent.aws.keys import object_events

    key = next(object_events(event)).key

    assert " " in key
    assert "+" in key
    assert any(ord(character) > 127 for character in key)


@pytest.mark.slow
def test_sam_build_without_docker(sam_build):
    """`sam build` needs only pip and PyPI: every function and layer uses a Makefile."""
    assert sam_build.returncode == 0, f"sam build failed after {sam_build.seconds:.0f} s\n{sam_build.output}"


@pytest.mark.slow
def test_sam_functions_fit_lambda_limit(sam_build):
    assert sam_build.returncode == 0, sam_build.output

    sizes = subprocess.run(["python", str(SCRIPT)], cwd=REPO_ROOT, capture_output=True, text=True)

    assert sizes.returncode == 0, sizes.stdout
