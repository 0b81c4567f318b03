"""Run the SAM application in-process against moto: real handlers, real state machine definition.

moto 5.2.5 interprets `statemachine/ingest.asl.json` and calls each Lambda task
through `boto3.client("lambda")` on boto3's default session. `LambdaBridge`
registers on that session and responds to `lambda:Invoke` by calling the handler in
`functions/<name>/app.py` in this process: a returned dict becomes the payload,
and a raised exception becomes an `Unhandled` function error whose `errorType`
is the exception's class name, as the Lambda Python runtime reports it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import boto3
from botocore.response import StreamingBody

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
DEFINITION_PATH = REPO_ROOT / "statemachine" / "ingest.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "ragagent-test-documents"
TABLE = "ragagent-test-status"
STATE_MACHINE_NAME = "ragagent-ingest"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ragagent-state-machine"
MAX_STATE_PAYLOAD_BYTES = 256 * 1024

# Task names in the definition's ${<Task>FunctionArn} placeholders, and their handler folders.
TASK_FUNCTIONS = {
    "MarkProcessing": "mark_processing",
    "Split": "split",
    "OcrBatch": "ocr_batch",
    "Reindex": "reindex",
    "DescribeTables": "describe_tables",
    "IndexDocument": "index_document",
    "MarkIndexed": "mark_indexed",
    "RecordFailure": "record_failure",
}


def function_arn(task: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{task}"


def load_definition(map_concurrency: int = 4, text: str | None = None) -> dict:
    """Apply the DefinitionSubstitutions that template.yaml sets, as CloudFormation would."""
    text = DEFINITION_PATH.read_text() if text is None else text
    text = text.replace("${MapConcurrency}", str(map_concurrency))
    for task in TASK_FUNCTIONS:
        text = text.replace("${%sFunctionArn}" % task, function_arn(task))
    assert "${" not in text, "a placeholder in the definition has no substitution"
    return json.loads(text)


def load_handler_module(folder: str) -> ModuleType:
    """Import functions/<folder>/app.py under a unique module name; it creates its clients on import."""
    path = FUNCTIONS_DIR / folder / "app.py"
    spec = importlib.util.spec_from_file_location(f"ragagent_function_{folder}_{uuid.uuid4().hex[:8]}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeLambdaContext:
    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: float = 900.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000)


@dataclass
class _HttpResponse:
    status_code: int = 200
    headers: dict = field(default_factory=dict)


class LambdaBridge:
    """Respond to lambda:Invoke calls of boto3's default session with in-process handlers."""

    def __init__(self, handlers: dict[str, Callable[[dict, Any], Any]]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, dict]] = []
        self.errors: list[tuple[str, str]] = []

    def install(self) -> None:
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        session.events.register("before-parameter-build.lambda.Invoke", self._remember_parameters)
        session.events.register("before-call.lambda.Invoke", self._invoke)

    def uninstall(self) -> None:
        session = boto3.DEFAULT_SESSION
        if session is not None:
            session.events.unregister("before-parameter-build.lambda.Invoke", self._remember_parameters)
            session.events.unregister("before-call.lambda.Invoke", self._invoke)

    def count(self, task: str) -> int:
        return sum(1 for name, _ in self.calls if name == task)

    def _remember_parameters(self, params: dict, context: dict, **_: Any) -> None:
        context["ragagent_invoke"] = dict(params)

    def _invoke(self, context: dict, **_: Any) -> tuple[_HttpResponse, dict]:
        params = context.pop("ragagent_invoke")
        task = str(params["FunctionName"]).rsplit(":", 1)[-1]
        raw = params.get("Payload") or b"{}"
        event = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        self.calls.append((task, event))
        handler = self.handlers[task]
        parsed: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        try:
            body = json.dumps(handler(event, FakeLambdaContext(task)))
        except Exception as error:  # noqa: BLE001 - the Lambda runtime reports every exception
            body = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []})
            parsed["FunctionError"] = "Unhandled"
            self.errors.append((task, type(error).__name__))
        data = body.encode("utf-8")
        parsed["Payload"] = StreamingBody(io.BytesIO(data), len(data))
        return _HttpResponse(), parsed


def eventbridge_object_event(
    detail_type: str,
    key: str,
    etag: str,
    sequencer: str,
    bucket: str = BUCKET,
    event_time: str = "2026-01-05T10:00:00Z",
) -> dict:
    """Build an S3 event as EventBridge delivers it, with the key form-encoded as S3 sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": event_time,
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "size": 1, "etag": etag, "sequencer": sequencer},
            "request-id": "REQUEST",
            "requester": ACCOUNT,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject" if detail_type == "Object Created" else "DeleteObject",
        },
    }


def wait_for_execution(stepfunctions: Any, execution_arn: str, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = stepfunctions.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout} s")
        time.sleep(0.05)


def history(stepfunctions: Any, execution_arn: str) -> list[dict]:
    events: list[dict] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = stepfunctions.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def state_payloads(events: list[dict]) -> Iterator[tuple[str, str]]:
    """Yield (event type, JSON text) of every state input and output in an execution history."""
    for event in events:
        for details_key, field_name in (
            ("stateEnteredEventDetails", "input"),
            ("stateExitedEventDetails", "output"),
            ("executionStartedEventDetails", "input"),
            ("executionSucceededEventDetails", "output"),
        ):
            details = event.get(details_key)
            if details and details.get(field_name) is not None:
                yield event["type"], details[field_name]


@dataclass
class AwsApp:
    """The deployed application, in moto: clients, the state machine and the in-process handlers."""

    s3: Any
    stepfunctions: Any
    dynamodb: Any
    state_machine_arn: str
    bridge: LambdaBridge
    modules: dict[str, ModuleType]
    store_directory: Path

    def put_pdf(self, key: str, data: bytes) -> dict:
        """Upload an object; return the EventBridge Object Created event S3 would send for it."""
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        etag = response["ETag"].strip('"')
        return eventbridge_object_event("Object Created", key, etag, sequencer=next_sequencer())

    def deliver(self, event: dict) -> dict:
        """Deliver an EventBridge event to the start_ingestion function, as the rule target does."""
        return self.modules["start_ingestion"].handler(event, FakeLambdaContext("StartIngestion"))

    def ingest(self, event: dict, timeout: float = 300.0) -> dict:
        """Deliver the event and wait for the execution it names; return describe_execution's result."""
        result = self.deliver(event)
        names = [item["execution_name"] for item in result["results"]]
        assert len(names) == 1, f"expected one execution, start_ingestion returned {result}"
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE_NAME}:{names[0]}"
        return wait_for_execution(self.stepfunctions, arn, timeout)

    def status(self, document_id: str) -> dict | None:
        item = self.dynamodb.Table(TABLE).get_item(Key={"document_id": document_id}).get("Item")
        return dict(item) if item else None


_sequencer = [0x0061000000000000]


def next_sequencer() -> str:
    """Return an S3-like sequencer that sorts after every earlier one."""
    _sequencer[0] += 1
    return f"{_sequencer[0]:016X}"


def create_app(store_directory: Path, definition: dict | None = None) -> AwsApp:
    """Create the bucket, the status table and the state machine in moto, and import the handlers.

    Call it inside `mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`,
    with the environment that `aws_environment` sets.
    """
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "document_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "document_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    state_machine_arn = stepfunctions.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps(definition or load_definition()),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]

    modules = {folder: load_handler_module(folder) for folder in [*TASK_FUNCTIONS.values(), "start_ingestion", "remove_document", "query_api", "documents_api"]}
    for module in modules.values():
        if hasattr(module, "aws_settings"):
            module.aws_settings.state_machine_arn = state_machine_arn
    bridge = LambdaBridge({task: modules[folder].handler for task, folder in TASK_FUNCTIONS.items()})
    bridge.install()
    return AwsApp(s3, stepfunctions, dynamodb, state_machine_arn, bridge, modules, store_directory)


def aws_environment(monkeypatch: Any, store_directory: Path, batch_size: int = 8, max_pages: int = 2000) -> None:
    """Set what template.yaml sets for the functions, pointing at moto and a local store directory."""
    values = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "ragagent",
        "POWERTOOLS_METRICS_NAMESPACE": "RagAgent",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        "LOG_LEVEL": "WARNING",
        "RAGAGENT_BUCKET": BUCKET,
        "RAGAGENT_DOCUMENTS_PREFIX": "documents/",
        "RAGAGENT_STATUS_TABLE": TABLE,
        "RAGAGENT_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}",
        "RAGAGENT_STORE": str(store_directory),
        "RAGAGENT_PARSER": "local",
        "RAGAGENT_DESCRIBER": "offline",
        "RAGAGENT_EMBEDDER": "minilm",
        "RAGAGENT_CHAT": "offline",
        "RAGAGENT_BATCH_SIZE": str(batch_size),
        "RAGAGENT_MAX_PAGES": str(max_pages),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
