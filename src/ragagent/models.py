"""Typed inputs and outputs of the pipeline steps and of the agent."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field

from ragagent.ocr import OCRImageObject, OCRPageDimensions, OCRTableObject


def document_id_for(source_uri: str) -> str:
    """Derive a document id from where the document lives, not from its bytes.

    `source_uri` is `file:///absolute/path.pdf` for a local file or
    `s3://bucket/key` for an object, so replacing or deleting the file finds the
    same id. The id is URL-safe, so it can appear in `GET /documents/{id}`.
    """
    return hashlib.sha256(source_uri.encode("utf-8")).hexdigest()[:20]


class DocumentRef(BaseModel):
    """A document's location, id and the file name that citations show."""

    document_id: str
    source_uri: str
    file_name: str

    @classmethod
    def from_uri(cls, source_uri: str, file_name: str) -> DocumentRef:
        return cls(document_id=document_id_for(source_uri), source_uri=source_uri, file_name=file_name)


class PageBatch(BaseModel):
    """A run of consecutive pages cut out of a PDF as a PDF of its own."""

    document: DocumentRef
    batch_index: int
    first_page: int = Field(description="1-based page number, in the whole document, of the batch's first page")
    page_count: int
    pdf: bytes


class SplitResult(BaseModel):
    batches: list[PageBatch]
    page_count: int
    warnings: list[str] = Field(default_factory=list)


class ElementDescription(BaseModel):
    """The title and description of a table or figure, written for retrieval."""

    element_id: str
    kind: Literal["table", "figure"]
    label: str | None = Field(default=None, description='Label from the caption, such as "Table 3" or "Figure 2"')
    title: str
    description: str


class DocumentPage(BaseModel):
    number: int = Field(description="1-based physical page number in the whole document")
    markdown: str
    images: list[OCRImageObject] = Field(default_factory=list)
    tables: list[OCRTableObject] = Field(default_factory=list)
    dimensions: OCRPageDimensions | None = None


class DocumentMetadata(BaseModel):
    summary: str | None = None
    authors: list[str] = Field(default_factory=list)


class ParsedDocument(BaseModel):
    """A whole document after OCR and reindexing: ids are unique in the document."""

    document: DocumentRef
    pages: list[DocumentPage]
    metadata: DocumentMetadata = Field(default_factory=DocumentMetadata)
    descriptions: dict[str, ElementDescription] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


class Chunk(BaseModel):
    chunk_id: str
    document_id: str
    source: str = Field(description="File name shown in citations")
    pages: list[int] = Field(description="1-based physical page numbers the chunk spans")
    section: list[str] = Field(default_factory=list, description="Heading path, outermost first")
    figure_ids: list[str] = Field(default_factory=list)
    table_ids: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict, description='Element id to caption label, e.g. "tbl-3.html": "Table 2"')
    position: int = Field(description="0-based position of the chunk in its document")
    text: str
    page_spans: list[tuple[int, int]] = Field(
        default_factory=list,
        description="(page, character offset in `text` where that page's content starts), in text order; "
        "empty for chunks stored before it existed, which are cited with their first page",
    )

    def page_at(self, offset: int) -> int:
        """Return the page of the character at `offset` in `text`, or the first page when no spans are known."""
        page = self.pages[0] if self.pages else 1
        for span_page, start in self.page_spans:
            if start > offset:
                break
            page = span_page
        return page


class ScoredChunk(BaseModel):
    chunk: Chunk
    score: float = Field(description="Fused score of the search mode that returned the chunk")
    bm25_score: float | None = None
    vector_score: float | None = Field(default=None, description="Cosine similarity to the query")
    bm25_rank: int | None = None
    vector_rank: int | None = None


SearchMode = Literal["hybrid", "bm25", "vector"]


class RelevanceGrade(BaseModel):
    chunk_id: str
    relevant: bool
    score: float = Field(description="Grader confidence that the chunk helps answer the question, 0 to 1")
    reason: str | None = None


class Citation(BaseModel):
    document: str = Field(description="File name")
    page: int
    chunk_id: str
    figure_or_table: str | None = None


class Step(BaseModel):
    """One retrieval attempt of the agent: the query tried and each chunk's relevance grade."""

    query: str
    grades: list[RelevanceGrade] = Field(default_factory=list)
    rewritten_from: str | None = None


class Answer(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    grounded: bool
    steps: list[Step] = Field(default_factory=list)

    def to_json_dict(self) -> dict:
        data = self.model_dump(mode="json")
        for citation in data["citations"]:
            if citation.get("figure_or_table") is None:
                citation.pop("figure_or_table", None)
        return data
