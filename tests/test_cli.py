"""The ragagent command end to end: ingest real and broken PDFs, ask, re-ingest."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import DOCUMENTS_DIR
from pdf_builders import multipage_pdf
from ragagent.cli import main

KIMI = DOCUMENTS_DIR / "paper_kimi_linear_technical_report.pdf"
KIMI_QUESTION = "How many total parameters does the pretrained Kimi Linear model have?"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def page_text(pdf: Path, page: int) -> str:
    return PdfReader(pdf).pages[page - 1].extract_text() or ""


@pytest.fixture(scope="module")
def kimi_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("kimi") / "store"
    assert main(["ingest", "--quiet", "--store", str(store), str(KIMI)]) == 0
    return store


def test_ask_kimi_total_parameters_cites_page(kimi_store, capsys):
    status, out, _ = run_cli(capsys, "ask", "--json", "--store", str(kimi_store), KIMI_QUESTION)
    answer = json.loads(out)

    assert status == 0
    assert answer["grounded"] is True
    assert re.search(r"48\s?(B\b|billion)", answer["answer"])
    assert answer["citations"]
    cited_pages = {c["page"] for c in answer["citations"] if c["document"] == KIMI.name}
    assert any(re.search(r"48\s?(B\b|billion)", page_text(KIMI, page)) for page in cited_pages)


def test_ask_json_has_documented_keys(kimi_store, capsys):
    _, out, _ = run_cli(capsys, "ask", "--json", "--store", str(kimi_store), KIMI_QUESTION)
    answer = json.loads(out)

    assert set(answer) == {"answer", "citations", "grounded", "steps"}
    assert answer["steps"][0]["query"] == KIMI_QUESTION
    assert answer["steps"][0]["grades"]
    for citation in answer["citations"]:
        assert {"document", "page", "chunk_id"} <= set(citation)


def test_ask_text_output_lists_sources(kimi_store, capsys):
    status, out, _ = run_cli(capsys, "ask", "--store", str(kimi_store), KIMI_QUESTION)

    assert status == 0
    assert "Sources:" in out
    assert f"{KIMI.name}, page " in out


def test_ask_unrelated_question_is_not_grounded(kimi_store, capsys):
    question = "Which recipe does the document give for a sourdough bread starter?"
    _, out, _ = run_cli(capsys, "ask", "--json", "--store", str(kimi_store), question)
    answer = json.loads(out)

    assert answer["grounded"] is False
    assert answer["citations"] == []
    assert "do not contain" in answer["answer"]


def test_ingest_bad_files_reports_each_and_keeps_good(tmp_path, capsys):
    good = tmp_path / "good.pdf"
    good.write_bytes(multipage_pdf(3))
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_text("plain text, not a PDF\n")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(multipage_pdf(3)[:900])
    missing = tmp_path / "missing.pdf"
    store = tmp_path / "store"

    status, out, err = run_cli(capsys, "ingest", "--quiet", "--store", str(store), str(good), str(not_pdf), str(empty), str(truncated), str(missing))

    assert status == 1
    assert f"ingested {good}" in out
    assert re.search(rf"error: {re.escape(str(not_pdf))}: not a PDF", err)
    assert re.search(rf"error: {re.escape(str(empty))}: .*empty", err)
    assert re.search(rf"error: {re.escape(str(truncated))}: .*corrupt", err)
    assert f"error: {missing}: not found" in err
    assert "1 of 5 files ingested" in out


def test_ingest_failed_file_leaves_no_chunks(tmp_path, capsys):
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(multipage_pdf(2))
    store = tmp_path / "store"
    assert main(["ingest", "--quiet", "--store", str(store), str(pdf)]) == 0
    capsys.readouterr()

    pdf.write_bytes(b"%PDF-1.7\nbroken beyond repair")
    status, _, err = run_cli(capsys, "ingest", "--quiet", "--store", str(store), str(pdf))

    from ragagent.embedding.minilm import MiniLMEmbedder
    from ragagent.ingest import document_ref_for
    from ragagent.store.local import LocalStore

    store_after = LocalStore.open(store, MiniLMEmbedder())
    assert status == 1
    assert "paper.pdf" in err
    assert store_after.document_chunks(document_ref_for(pdf).document_id) == []


def test_ingest_again_replaces_chunks(tmp_path, capsys):
    from ragagent.embedding.minilm import MiniLMEmbedder
    from ragagent.ingest import document_ref_for
    from ragagent.store.local import LocalStore

    pdf = tmp_path / "paper.pdf"
    store = tmp_path / "store"
    document_id = document_ref_for(pdf).document_id

    def stored_chunks():
        return LocalStore.open(store, MiniLMEmbedder()).document_chunks(document_id)

    pdf.write_bytes(multipage_pdf(4))
    assert main(["ingest", "--quiet", "--store", str(store), str(pdf)]) == 0
    first = [chunk.chunk_id for chunk in stored_chunks()]
    assert main(["ingest", "--quiet", "--store", str(store), str(pdf)]) == 0
    second = [chunk.chunk_id for chunk in stored_chunks()]
    pdf.write_bytes(multipage_pdf(2))
    assert main(["ingest", "--quiet", "--store", str(store), str(pdf)]) == 0
    third = stored_chunks()
    third_text = " ".join(chunk.text for chunk in third)

    assert first
    assert second == first
    assert third
    assert not {chunk.chunk_id for chunk in third} & set(first)
    assert "Marker page 2" in third_text
    assert "Marker page 3" not in third_text
    assert "Marker page 4" not in third_text


def test_ingest_folder_takes_only_pdfs(tmp_path, capsys):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.pdf").write_bytes(multipage_pdf(1))
    (folder / "sub" / "b.PDF").write_bytes(multipage_pdf(1))
    (folder / "readme.txt").write_text("not ingested")

    status, out, _ = run_cli(capsys, "ingest", "--quiet", "--store", str(tmp_path / "store"), str(folder))

    assert status == 0
    assert "2 of 2 files ingested" in out


def test_store_from_environment_variable(tmp_path, capsys, monkeypatch):
    store = tmp_path / "env-store"
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(multipage_pdf(1))
    monkeypatch.setenv("RAGAGENT_STORE", str(store))

    status, _, _ = run_cli(capsys, "ingest", "--quiet", str(pdf))

    assert status == 0
    assert (store / "manifest.json").is_file()


def test_encrypted_without_user_password_is_ingested(tmp_path, capsys):
    pdf = DOCUMENTS_DIR / "encrypted_rc4_no_user_password_dmca.pdf"
    copy = tmp_path / pdf.name
    shutil.copy(pdf, copy)
    status, _, _ = run_cli(capsys, "ingest", "--quiet", "--store", str(tmp_path / "store"), str(copy))
    assert status == 0

    _, out, _ = run_cli(
        capsys, "ask", "--json", "--store", str(tmp_path / "store"),
        "On what date was the Digital Millennium Copyright Act signed into law?",
    )
    assert "October 28, 1998" in json.loads(out)["answer"]


def test_ask_without_store_fails_clearly(tmp_path, capsys):
    store = tmp_path / "never-ingested"

    status, _, err = run_cli(capsys, "ask", "--store", str(store), KIMI_QUESTION)

    assert status == 1
    assert f"no store at {store}" in err
    assert not store.exists()


def test_ask_empty_store_fails_clearly(tmp_path, capsys):
    store = tmp_path / "store"
    run_cli(capsys, "ingest", "--quiet", "--store", str(store), str(tmp_path / "missing.pdf"))

    status, _, err = run_cli(capsys, "ask", "--store", str(store), KIMI_QUESTION)

    assert status == 1
    assert "contains no documents" in err


def test_ingest_reports_in_argument_order(tmp_path, capsys):
    not_pdf = tmp_path / "a-notes.pdf"
    not_pdf.write_text("plain text")
    good = tmp_path / "b-good.pdf"
    good.write_bytes(multipage_pdf(1))
    missing = tmp_path / "c-missing.pdf"

    status, out, err = run_cli(capsys, "ingest", "--store", str(tmp_path / "store"), str(not_pdf), str(good), str(missing))

    assert status == 1
    assert err.index(str(not_pdf)) < err.index(str(missing))
    assert "1 page," in out


def test_serve_busy_port_fails_clearly(tmp_path, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        status, _, err = run_cli(capsys, "serve", "--store", str(tmp_path), "--port", str(port))

    assert status == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
