"""Task functions called in a chosen order against moto, to interleave two runs of one key by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from moto import mock_aws

from lambda_harness import AwsApp, aws_environment, create_app, eventbridge_object_event, next_sequencer
from ragagent.aws import tasks
from ragagent.aws.keys import object_events, run_id_for
from ragagent.status import StaleEventError
from test_state_machine import make_small_pdf

KEY = "documents/attention notes.pdf"
OLDER_TEXT = ["The older upload describes gradient clipping in recurrent networks."]
NEWER_TEXT = ["The newer upload describes mixture of experts routing."]


@pytest.fixture
def app(tmp_path, monkeypatch):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        aws_environment(monkeypatch, tmp_path / "store", batch_size=2)
        application = create_app(tmp_path / "store")
        yield application
        application.bridge.uninstall()


def services(app: AwsApp) -> tasks.Services:
    return app.modules["index_document"].services


@dataclass
class PreparedRun:
    """A run stopped before IndexDocument: its execution input and the IndexDocument payload."""

    run: tasks.RunInput
    index_event: dict

    @property
    def document_id(self) -> str:
        return self.run.document.document_id


def prepare_run(app: AwsApp, sentences: list[str]) -> PreparedRun:
    """Upload a PDF and run start, MarkProcessing, Split, OCR, Reindex and DescribeTables, as an execution would."""
    event = app.put_pdf(KEY, make_small_pdf(sentences=sentences))
    change = next(object_events(event))
    run = tasks.RunInput(
        bucket=change.bucket,
        key=change.key,
        document=change.document(),
        run_id=run_id_for(change),
        etag=change.etag,
        sequencer=change.sequencer,
        event_time=change.event_time,
    )
    context = services(app)
    context.status.mark_queued(run.document, run.order(), etag=run.etag)
    order = {"sequencer": run.sequencer, "event_time": run.event_time}
    document = run.document.model_dump(mode="json")
    tasks.mark_processing({"document": document, **order}, context)
    split = tasks.split(run.model_dump(mode="json"), context)
    ocr = [tasks.ocr_batch({"document": document, "run_id": run.run_id, "batch": batch}, context) for batch in split["batches"]]
    parsed = tasks.reindex({"document": document, "run_id": run.run_id, "batches": ocr}, context)
    described = tasks.describe_tables({"document": document, "run_id": run.run_id, "parsed_key": parsed["key"]}, context)
    return PreparedRun(run, {"document": document, "described_key": described["key"], **order})


def failure_event(prepared: PreparedRun) -> dict:
    return {
        "document": prepared.run.document.model_dump(mode="json"),
        "sequencer": prepared.run.sequencer,
        "event_time": prepared.run.event_time,
        "error": {"Error": "States.TaskFailed", "Cause": "the OCR provider failed"},
    }


def chunk_texts(app: AwsApp, prepared: PreparedRun) -> str:
    return " ".join(chunk.text for chunk in services(app).store.document_chunks(prepared.document_id))


class HookedStore:
    """The real store, with a function called before or after `replace_document` writes."""

    def __init__(self, store, before: Callable[[], None] | None = None, after: Callable[[], None] | None = None) -> None:
        self.store = store
        self.before = before
        self.after = after

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def replace_document(self, document_id, chunks, vectors) -> None:
        if self.before:
            self.before()
        self.store.replace_document(document_id, chunks, vectors)
        if self.after:
            self.after()


def hook_store(app: AwsApp, **hooks: Callable[[], None]) -> None:
    context = services(app)
    context.__dict__["store"] = HookedStore(context.store, **hooks)


# --- IndexDocument ---------------------------------------------------------------


def test_index_older_run_after_newer_stops(app: AwsApp):
    older = prepare_run(app, OLDER_TEXT)
    newer = prepare_run(app, NEWER_TEXT)
    tasks.index_document(newer.index_event, services(app))

    with pytest.raises(StaleEventError, match="newer upload"):
        tasks.index_document(older.index_event, services(app))

    texts = chunk_texts(app, newer)
    assert "mixture of experts" in texts
    assert "gradient clipping" not in texts


def test_index_newer_upload_during_write_stops(app: AwsApp):
    older = prepare_run(app, OLDER_TEXT)
    newer_runs: list[PreparedRun] = []
    hook_store(app, after=lambda: newer_runs.append(prepare_run(app, NEWER_TEXT)))

    with pytest.raises(StaleEventError, match="while indexing"):
        tasks.index_document(older.index_event, services(app))

    services(app).__dict__["store"] = services(app).store.store
    tasks.index_document(newer_runs[0].index_event, services(app))
    texts = chunk_texts(app, older)
    assert "mixture of experts" in texts
    assert "gradient clipping" not in texts


def test_index_deleted_during_write_removes_chunks(app: AwsApp):
    run = prepare_run(app, OLDER_TEXT)
    deleted = eventbridge_object_event("Object Deleted", KEY, etag="", sequencer=next_sequencer())
    hook_store(app, before=lambda: tasks.remove_documents(deleted, services(app), "documents/"))

    with pytest.raises(StaleEventError, match="deleted"):
        tasks.index_document(run.index_event, services(app))

    assert chunk_texts(app, run) == ""
    assert services(app).status.get(run.document_id) is None


def test_index_newest_run_writes(app: AwsApp):
    run = prepare_run(app, OLDER_TEXT)

    output = tasks.index_document(run.index_event, services(app))

    assert output["chunk_count"] > 0
    assert "gradient clipping" in chunk_texts(app, run)


# --- RecordFailure ----------------------------------------------------------------


def test_record_failure_removes_chunks(app: AwsApp):
    run = prepare_run(app, OLDER_TEXT)
    tasks.index_document(run.index_event, services(app))

    result = tasks.record_failure(failure_event(run), services(app))

    assert result["removed_chunks"] > 0
    assert chunk_texts(app, run) == ""
    assert services(app).status.get(run.document_id).status == "failed"


def test_record_failure_keeps_newer_chunks(app: AwsApp):
    older = prepare_run(app, OLDER_TEXT)
    newer = prepare_run(app, NEWER_TEXT)
    tasks.index_document(newer.index_event, services(app))

    result = tasks.record_failure(failure_event(older), services(app))

    assert result["recorded"] is False
    assert result["removed_chunks"] == 0
    assert "mixture of experts" in chunk_texts(app, newer)
    assert services(app).status.get(newer.document_id).status == "processing"
