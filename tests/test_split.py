"""Split step: page batches, lenient reading of damaged files, and clear errors for bad input."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader, PdfWriter

from pdf_builders import multipage_pdf
from ragagent.errors import DocumentTooLargeError, InvalidDocumentError
from ragagent.models import DocumentRef
from ragagent.pipeline.split import split_pdf
from conftest import DOCUMENTS_DIR


def ref(name: str = "sample.pdf") -> DocumentRef:
    return DocumentRef.from_uri(f"file:///tmp/{name}", name)


def page_texts(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    return [document[index].get_textpage().get_text_range() for index in range(len(document))]


def test_split_batches_pages_in_order():
    result = split_pdf(multipage_pdf(20), ref(), batch_size=8)

    assert result.page_count == 20
    assert [batch.first_page for batch in result.batches] == [1, 9, 17]
    assert [batch.page_count for batch in result.batches] == [8, 8, 4]
    assert [batch.batch_index for batch in result.batches] == [0, 1, 2]
    assert result.warnings == []


def test_split_batch_is_standalone_pdf():
    result = split_pdf(multipage_pdf(20), ref(), batch_size=8)
    texts = page_texts(result.batches[1].pdf)

    assert len(texts) == 8
    assert "Marker page 9 of" in texts[0]
    assert "Marker page 16 of" in texts[-1]


def test_split_rejects_too_many_pages():
    with pytest.raises(DocumentTooLargeError) as error:
        split_pdf(multipage_pdf(5), ref("long.pdf"), max_pages=4)

    assert "long.pdf" in str(error.value)
    assert "5 pages" in str(error.value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Not a paper</body></html>", "not a PDF"),
        (b"Plain text notes renamed to .pdf\n" * 10, "not a PDF"),
        (b"%PDF-1.4\n%%EOF\n", "corrupted"),
    ],
)
def test_split_rejects_bad_bytes(data, reason):
    with pytest.raises(InvalidDocumentError) as error:
        split_pdf(data, ref("bad.pdf"))

    assert error.value.source == "bad.pdf"
    assert reason in error.value.reason


def test_split_rejects_pdf_without_pages():
    buffer = io.BytesIO()
    PdfWriter().write(buffer)

    with pytest.raises(InvalidDocumentError) as error:
        split_pdf(buffer.getvalue(), ref("blank.pdf"))

    assert "no pages" in error.value.reason


def encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(multipage_pdf(3)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_split_rejects_user_password():
    with pytest.raises(InvalidDocumentError) as error:
        split_pdf(encrypted("reader-secret"), ref("locked.pdf"))

    assert "password required" in error.value.reason


def test_split_opens_empty_user_password():
    result = split_pdf(encrypted(""), ref("open.pdf"), batch_size=2)

    assert result.page_count == 3
    assert not PdfReader(io.BytesIO(result.batches[0].pdf)).is_encrypted
    assert "Marker page 3 of" in page_texts(result.batches[1].pdf)[0]


def test_split_removes_junk_before_header():
    result = split_pdf(b"GPL Ghostscript 9.50: warning\n" + multipage_pdf(2), ref())

    assert result.page_count == 2
    assert any("junk" in warning for warning in result.warnings)


def test_split_dmca_empty_password():
    path = DOCUMENTS_DIR / "encrypted_rc4_no_user_password_dmca.pdf"
    result = split_pdf(path.read_bytes(), ref(path.name))

    assert result.page_count == 18
    assert not PdfReader(io.BytesIO(result.batches[0].pdf)).is_encrypted
    assert "October 28, 1998" in page_texts(result.batches[0].pdf)[0]


def test_split_repairs_recoverable_file(corpus_pdf):
    path = corpus_pdf("broken_xref_recoverable_ligatures.pdf")
    result = split_pdf(path.read_bytes(), ref(path.name))

    assert result.page_count == 8
    assert any("247 bytes" in warning for warning in result.warnings)
    assert any("repaired" in warning for warning in result.warnings)
    assert "Frederickson" in page_texts(result.batches[0].pdf)[0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("encrypted_aes128_user_password.pdf", "password required"),
        ("broken_truncated_multicolumn.pdf", "corrupted"),
        ("broken_xref_missing_pages.pdf", "corrupted"),
    ],
)
def test_split_rejects_corpus_file(corpus_pdf, name, reason):
    path = corpus_pdf(name)

    with pytest.raises(InvalidDocumentError) as error:
        split_pdf(path.read_bytes(), ref(name))

    assert name in str(error.value)
    assert reason in error.value.reason
