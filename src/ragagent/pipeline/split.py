"""Split step: check that a file is a readable PDF and cut it into page batches.

pypdf reads the file in non-strict mode, the way desktop readers do, so a PDF
with junk before its header or wrong xref offsets is repaired and split, and
the repair is reported in `SplitResult.warnings`. A PDF encrypted with an
empty user password opens without one, and its batches are written
unencrypted so any parser can read them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PdfReader, PdfWriter
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from ragagent.errors import DocumentTooLargeError, InvalidDocumentError
from ragagent.models import DocumentRef, PageBatch, SplitResult

logger = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
# Readers accept a header that starts anywhere in the first 1024 bytes.
HEADER_SEARCH_BYTES = 1024
MAX_WARNINGS = 20
PYPDF_LOGGER = "pypdf"


class _WarningCollector(logging.Handler):
    """Collect the warnings pypdf logs while it repairs a damaged file."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages:
            self.messages.append(message)


@contextmanager
def _collect_pypdf_warnings() -> Iterator[_WarningCollector]:
    # The repairs reach the caller as warnings of the file, so they are neither
    # filtered by a level set elsewhere nor printed a second time by the root logger.
    collector = _WarningCollector()
    pypdf_logger = logging.getLogger(PYPDF_LOGGER)
    saved_level, saved_propagate = pypdf_logger.level, pypdf_logger.propagate
    pypdf_logger.setLevel(logging.WARNING)
    pypdf_logger.propagate = False
    pypdf_logger.addHandler(collector)
    try:
        yield collector
    finally:
        pypdf_logger.removeHandler(collector)
        pypdf_logger.setLevel(saved_level)
        pypdf_logger.propagate = saved_propagate


def split_pdf(data: bytes, document: DocumentRef, batch_size: int = 8, max_pages: int | None = None) -> SplitResult:
    """Cut a PDF into batches of at most `batch_size` pages, each a standalone PDF.

    Raises `InvalidDocumentError` when the bytes are not a readable PDF and
    `DocumentTooLargeError` when the PDF has more than `max_pages` pages.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    name = document.file_name
    warnings: list[str] = []

    data = _strip_leading_junk(data, name, warnings)
    with _collect_pypdf_warnings() as collector:
        reader = _open_reader(data, name)
        page_count = _count_pages(reader, name)
        if max_pages is not None and page_count > max_pages:
            raise DocumentTooLargeError(name, f"the PDF has {page_count} pages, more than the maximum of {max_pages}")
        batches = [
            _write_batch(reader, document, batch_index, first, min(first + batch_size, page_count))
            for batch_index, first in enumerate(range(0, page_count, batch_size))
        ]

    warnings.extend(f"PDF repaired while reading: {message}" for message in collector.messages[:MAX_WARNINGS])
    if warnings:
        logger.info("document %s split with %d warnings", document.document_id, len(warnings))
    logger.info("document %s split into %d batches of up to %d pages (%d pages)", document.document_id, len(batches), batch_size, page_count)
    return SplitResult(batches=batches, page_count=page_count, warnings=warnings)


def _strip_leading_junk(data: bytes, name: str, warnings: list[str]) -> bytes:
    if not data:
        raise InvalidDocumentError(name, "the file is empty (0 bytes)")
    start = data.find(PDF_MAGIC, 0, HEADER_SEARCH_BYTES + len(PDF_MAGIC))
    if start < 0:
        start = data[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise InvalidDocumentError(name, f'not a PDF: the file does not start with {PDF_MAGIC.decode()} (it starts with "{start}")')
    if start > 0:
        warnings.append(f"removed {start} bytes of junk before the %PDF- header")
    return data[start:]


def _open_reader(data: bytes, name: str) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except PdfReadError as error:
        raise InvalidDocumentError(name, f"corrupted PDF that cannot be read ({error})") from error
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        raise InvalidDocumentError(name, f"corrupted PDF that cannot be read ({type(error).__name__}: {error})") from error

    if reader.is_encrypted:
        # An empty user password means "anyone may open it"; only the owner
        # password, which guards editing, is set.
        try:
            opened = reader.decrypt("")
        except (DependencyError, NotImplementedError) as error:
            raise InvalidDocumentError(name, f"encrypted PDF with an unsupported cipher ({error})") from error
        if not opened:
            raise InvalidDocumentError(name, "password required: the PDF is encrypted with a user password")
    return reader


def _count_pages(reader: PdfReader, name: str) -> int:
    try:
        page_count = len(reader.pages)
    except FileNotDecryptedError as error:
        raise InvalidDocumentError(name, "password required: the PDF is encrypted with a user password") from error
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        raise InvalidDocumentError(name, f"corrupted PDF: its page tree cannot be read ({type(error).__name__}: {error})") from error
    if page_count == 0:
        raise InvalidDocumentError(name, "the PDF has no pages")
    return page_count


def _write_batch(reader: PdfReader, document: DocumentRef, batch_index: int, start: int, stop: int) -> PageBatch:
    """Write pages `start` to `stop - 1` (0-based) as a new, unencrypted PDF."""
    writer = PdfWriter()
    try:
        for page_index in range(start, stop):
            writer.add_page(reader.pages[page_index])
        buffer = io.BytesIO()
        writer.write(buffer)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        raise InvalidDocumentError(
            document.file_name, f"corrupted PDF: pages {start + 1}-{stop} cannot be read ({type(error).__name__}: {error})"
        ) from error
    return PageBatch(document=document, batch_index=batch_index, first_page=start + 1, page_count=stop - start, pdf=buffer.getvalue())
