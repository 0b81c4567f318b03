"""The real statemachine/ingest.asl.json, run by moto's interpreter with the real handlers in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from lambda_harness import (
    TASK_FUNCTIONS,
    AwsApp,
    aws_environment,
    create_app,
    eventbridge_object_event,
    load_definition,
    next_sequencer,
    wait_for_execution,
)
from ragagent.aws.keys import object_events
from ragagent.errors import ProviderTransientError

REPO_ROOT = Path(__file__).resolve().parent.parent
ROTATED_PDF = REPO_ROOT / "documents" / "rotated_nics_background_checks_table.pdf"
KIMI_PDF = REPO_ROOT / "documents" / "paper_kimi_linear_technical_report.pdf"
SMALL_PDF_TEXT = [
    "Linear attention replaces softmax attention with a kernel feature map.",
    "The hybrid model interleaves three linear layers with one full attention layer.",
]
HANDLER_TASKS = ["MarkProcessing", "Split", "OcrBatch", "Reindex", "DescribeTables", "IndexDocument", "MarkIndexed"]


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """Return a function that builds the application in moto with the given definition and settings."""
    apps: list[AwsApp] = []
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):

        def build(definition: dict | None = None, batch_size: int = 2, max_pages: int = 2000) -> AwsApp:
            aws_environment(monkeypatch, tmp_path / "store", batch_size=batch_size, max_pages=max_pages)
            application = create_app(tmp_path / "store", definition)
            apps.append(application)
            return application

        yield build
        for application in apps:
            application.bridge.uninstall()


@pytest.fixture
def app(make_app) -> AwsApp:
    return make_app()


def make_small_pdf(pages: int = 1, sentences: list[str] = SMALL_PDF_TEXT) -> bytes:
    """Render a PDF with two sentences per page, so a run embeds few short chunks."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in range(1, pages + 1):
        for line, sentence in enumerate(sentences):
            pdf.drawString(72, 760 - 18 * line, f"Page {page}. {sentence}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


SMALL_PDF = make_small_pdf()


def document_id_of(event: dict) -> str:
    return next(object_events(event)).document().document_id


def chunk_count_in_store(app: AwsApp, document_id: str) -> int:
    return len(app.modules["index_document"].services.store.document_chunks(document_id))


def failure_reason(app: AwsApp, event: dict) -> str:
    status = app.status(document_id_of(event))
    assert status is not None, "no status recorded"
    assert status["status"] == "failed"
    return status["reason"]


# --- success -------------------------------------------------------------------


def test_state_machine_indexes_one_page_pdf(app: AwsApp):
    event = app.put_pdf("documents/nics table.pdf", ROTATED_PDF.read_bytes())

    description = app.ingest(event)

    assert description["status"] == "SUCCEEDED"
    status = app.status(document_id_of(event))
    assert status["status"] == "indexed"
    assert int(status["page_count"]) == 1
    assert int(status["chunk_count"]) > 0
    assert int(status["chunk_count"]) == chunk_count_in_store(app, document_id_of(event))
    assert "total_seconds" in status["timings"]


def test_state_machine_calls_every_handler(app: AwsApp):
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)

    app.ingest(event)

    for task in HANDLER_TASKS:
        assert app.bridge.count(task) == 1, f"{task} was called {app.bridge.count(task)} times"
    assert app.bridge.count("RecordFailure") == 0


def test_state_machine_maps_each_page_batch(app: AwsApp):
    event = app.put_pdf("documents/seven pages.pdf", make_small_pdf(pages=7))

    description = app.ingest(event)

    assert description["status"] == "SUCCEEDED"
    ocr_events = [payload for task, payload in app.bridge.calls if task == "OcrBatch"]
    assert sorted(payload["batch"]["first_page"] for payload in ocr_events) == [1, 3, 5, 7]
    assert sorted(payload["batch"]["page_count"] for payload in ocr_events) == [1, 2, 2, 2]
    reindex_input = next(payload for task, payload in app.bridge.calls if task == "Reindex")
    assert [batch["batch_index"] for batch in sorted(reindex_input["batches"], key=lambda b: b["batch_index"])] == [0, 1, 2, 3]
    assert int(app.status(document_id_of(event))["page_count"]) == 7


def test_state_machine_passes_keys_not_documents(app: AwsApp):
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)

    app.ingest(event)

    describe_input = next(payload for task, payload in app.bridge.calls if task == "DescribeTables")
    index_input = next(payload for task, payload in app.bridge.calls if task == "IndexDocument")
    assert describe_input["parsed_key"].endswith("/document.json")
    assert index_input["described_key"].endswith("/described.json")
    assert set(index_input) == {"document", "described_key", "sequencer", "event_time", "execution_id"}


# --- wrong paths fail ------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "field", "wrong"),
    [
        ("OcrBatches", "ItemsPath", "$.split.pages"),
        ("DescribeTables", "ResultPath", "$.parsed"),
        ("Split", "ResultSelector", {"page_count.$": "$.Payload.page_count"}),
    ],
)
def test_state_machine_wrong_path_fails(make_app, state, field, wrong):
    definition = load_definition()
    definition["States"][state][field] = wrong
    app = make_app(definition)
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)

    description = app.ingest(event)

    assert description["status"] == "FAILED"
    assert app.bridge.count("MarkIndexed") == 0


# --- failures --------------------------------------------------------------------


def test_state_machine_records_non_pdf(app: AwsApp):
    event = app.put_pdf("documents/notes.pdf", b"these are plain-text notes, not a PDF\n")

    description = app.ingest(event)

    assert description["status"] == "FAILED"
    assert app.bridge.count("RecordFailure") == 1
    reason = failure_reason(app, event)
    assert reason.startswith("InvalidDocumentError: ")
    assert "not a PDF" in reason


def test_state_machine_records_corrupted_pdf(app: AwsApp):
    data = KIMI_PDF.read_bytes()
    event = app.put_pdf("documents/truncated.pdf", data[: len(data) // 2])

    description = app.ingest(event)

    assert description["status"] == "FAILED"
    reason = failure_reason(app, event)
    assert reason.startswith("InvalidDocumentError: ")
    assert "corrupted" in reason


def test_state_machine_records_page_limit(make_app):
    app = make_app(max_pages=5)
    event = app.put_pdf("documents/kimi.pdf", KIMI_PDF.read_bytes())

    description = app.ingest(event)

    assert description["status"] == "FAILED"
    reason = failure_reason(app, event)
    assert reason.startswith("DocumentTooLargeError: ")
    assert "28 pages" in reason
    assert app.bridge.count("OcrBatch") == 0


class FlakyParser:
    """Raise ProviderTransientError on the first call, then parse with the real parser."""

    def __init__(self, parser) -> None:
        self.parser = parser
        self.name = parser.name
        self.calls = 0

    def parse(self, batch):
        self.calls += 1
        if self.calls == 1:
            raise ProviderTransientError("HTTP 503 from the OCR provider")
        return self.parser.parse(batch)


def install_flaky_parser(app: AwsApp) -> FlakyParser:
    services = app.modules["ocr_batch"].services
    flaky = FlakyParser(services.parser)
    services.__dict__["parser"] = flaky
    return flaky


def test_state_machine_retries_transient_error(app: AwsApp):
    flaky = install_flaky_parser(app)
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)

    description = app.ingest(event)

    assert description["status"] == "SUCCEEDED"
    assert app.bridge.count("OcrBatch") == 2
    assert flaky.calls == 2
    assert app.bridge.errors == [("OcrBatch", "ProviderTransientError")]
    assert app.status(document_id_of(event))["status"] == "indexed"


def test_state_machine_without_retry_fails(make_app):
    definition = load_definition()
    definition["States"]["OcrBatches"]["ItemProcessor"]["States"]["OcrBatch"].pop("Retry")
    app = make_app(definition)
    install_flaky_parser(app)
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)

    description = app.ingest(event)

    assert description["status"] == "FAILED"
    assert app.bridge.count("OcrBatch") == 1
    assert failure_reason(app, event).startswith("ProviderTransientError: ")


# --- idempotency -------------------------------------------------------------------


def test_state_machine_redelivered_event_starts_once(app: AwsApp):
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    app.ingest(event)

    second = app.deliver(event)

    assert second["results"][0]["started"] is False
    executions = app.stepfunctions.list_executions(stateMachineArn=app.state_machine_arn)["executions"]
    assert len(executions) == 1
    status = app.status(document_id_of(event))
    assert status["status"] == "indexed"
    assert chunk_count_in_store(app, document_id_of(event)) == int(status["chunk_count"])


def test_state_machine_reupload_replaces_chunks(app: AwsApp):
    first = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    app.ingest(first)
    chunks_before = chunk_count_in_store(app, document_id_of(first))

    second = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    description = app.ingest(second)

    assert description["status"] == "SUCCEEDED"
    executions = app.stepfunctions.list_executions(stateMachineArn=app.state_machine_arn)["executions"]
    assert len(executions) == 2
    assert chunk_count_in_store(app, document_id_of(second)) == chunks_before
    assert app.status(document_id_of(second))["sequencer"] == second["detail"]["object"]["sequencer"]


def test_state_machine_retried_execution_keeps_one_set(app: AwsApp):
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    description = app.ingest(event)
    chunks_before = chunk_count_in_store(app, document_id_of(event))

    retry = app.stepfunctions.start_execution(stateMachineArn=app.state_machine_arn, name="manual-retry", input=description["input"])
    retried = wait_for_execution(app.stepfunctions, retry["executionArn"])

    assert retried["status"] == "SUCCEEDED"
    assert chunk_count_in_store(app, document_id_of(event)) == chunks_before


def test_state_machine_older_event_keeps_newer_status(app: AwsApp):
    older = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    newer = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    app.ingest(newer)

    late = app.deliver(older)

    assert late["results"][0]["started"] is False
    assert late["results"][0]["reason"] == "stale event"
    status = app.status(document_id_of(newer))
    assert status["status"] == "indexed"
    assert status["sequencer"] == newer["detail"]["object"]["sequencer"]


def test_state_machine_stale_run_stops(app: AwsApp):
    older = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    older_run = app.deliver(older)["results"][0]["execution_name"]
    newer = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    app.ingest(newer)
    arn = f"{app.state_machine_arn.replace(':stateMachine:', ':execution:')}:{older_run}"

    description = wait_for_execution(app.stepfunctions, arn)

    # The older run either finished before the newer upload was recorded, or
    # stopped at a status write; either way the newer upload's status remains.
    assert description["status"] == "SUCCEEDED"
    status = app.status(document_id_of(newer))
    assert status["sequencer"] == newer["detail"]["object"]["sequencer"]
    assert status["status"] == "indexed"


def test_state_machine_failed_reupload_removes_chunks(app: AwsApp):
    first = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    app.ingest(first)
    document_id = document_id_of(first)
    assert chunk_count_in_store(app, document_id) > 0

    second = app.put_pdf("documents/nics.pdf", b"these are plain-text notes, not a PDF\n")
    description = app.ingest(second)

    assert description["status"] == "FAILED"
    assert chunk_count_in_store(app, document_id) == 0
    assert app.status(document_id)["status"] == "failed"


OLDER_UPLOAD_TEXT = ["The older upload describes gradient clipping in recurrent networks."]
NEWER_UPLOAD_TEXT = ["The newer upload describes mixture of experts routing."]


def chunk_texts(app: AwsApp, document_id: str) -> str:
    return " ".join(chunk.text for chunk in app.modules["index_document"].services.store.document_chunks(document_id))


def test_state_machine_older_run_keeps_newer_chunks(app: AwsApp):
    """The older run reaches IndexDocument only after the newer run has indexed the same key."""
    older = app.put_pdf("documents/nics.pdf", make_small_pdf(sentences=OLDER_UPLOAD_TEXT))
    newer_pdf = make_small_pdf(sentences=NEWER_UPLOAD_TEXT)
    index_handler = app.bridge.handlers["IndexDocument"]
    newer_runs: list[dict] = []

    def index_after_newer_run(event: dict, context) -> dict:
        if not newer_runs:
            newer = app.put_pdf("documents/nics.pdf", newer_pdf)
            newer_runs.append(newer)
            newer_runs.append(app.ingest(newer))
        return index_handler(event, context)

    app.bridge.handlers["IndexDocument"] = index_after_newer_run
    description = app.ingest(older)

    newer, newer_description = newer_runs
    document_id = document_id_of(older)
    assert newer_description["status"] == "SUCCEEDED"
    assert description["status"] == "SUCCEEDED"
    assert ("IndexDocument", "StaleEventError") in app.bridge.errors
    assert app.bridge.count("MarkIndexed") == 1
    texts = chunk_texts(app, document_id)
    assert "mixture of experts" in texts
    assert "gradient clipping" not in texts
    status = app.status(document_id)
    assert status["status"] == "indexed"
    assert status["sequencer"] == newer["detail"]["object"]["sequencer"]


# --- deletion ---------------------------------------------------------------------------


def test_object_deleted_removes_chunks(app: AwsApp):
    event = app.put_pdf("documents/nics.pdf", SMALL_PDF)
    app.ingest(event)
    document_id = document_id_of(event)
    app.s3.delete_object(Bucket=event["detail"]["bucket"]["name"], Key="documents/nics.pdf")
    deleted = eventbridge_object_event("Object Deleted", "documents/nics.pdf", etag="", sequencer=next_sequencer())

    result = app.modules["remove_document"].handler(deleted, _context("RemoveDocument"))

    assert result["results"][0]["removed_chunks"] > 0
    assert chunk_count_in_store(app, document_id) == 0
    assert app.status(document_id) is None


def _context(name: str):
    from lambda_harness import FakeLambdaContext

    return FakeLambdaContext(name)


def test_state_machine_definition_names_every_function():
    text = (REPO_ROOT / "statemachine" / "ingest.asl.json").read_text()

    for task in TASK_FUNCTIONS:
        assert "${%sFunctionArn}" % task in text
    assert json.loads(text.replace("${MapConcurrency}", "4"))["States"]["OcrBatches"]["MaxConcurrency"] == 4


# --- keys with special characters ------------------------------------------------------

TRICKY_KEY = "documents/smith, jones (2021) c++ Größe 東京.pdf"


def test_state_machine_reads_tricky_key(app: AwsApp):
    event = app.put_pdf(TRICKY_KEY, SMALL_PDF)

    description = app.ingest(event)

    assert description["status"] == "SUCCEEDED"
    status = app.status(document_id_of(event))
    assert status["source_uri"] == f"s3://{event['detail']['bucket']['name']}/{TRICKY_KEY}"
    assert status["file_name"] == "smith, jones (2021) c++ Größe 東京.pdf"


def test_state_machine_tricky_key_from_sqs(app: AwsApp):
    from test_handlers_keys import s3_notification, sqs_wrapped

    app.s3.put_object(Bucket="ragagent-test-documents", Key=TRICKY_KEY, Body=SMALL_PDF)
    notification = s3_notification(TRICKY_KEY)
    notification["Records"][0]["s3"]["bucket"]["name"] = "ragagent-test-documents"

    description = app.ingest(sqs_wrapped(notification))

    assert description["status"] == "SUCCEEDED"
    assert app.bridge.count("RecordFailure") == 0
