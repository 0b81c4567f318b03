"""OCR response models in the shape of Mistral OCR (`POST /v1/ocr`).

Field names and optionality follow the `OCRResponse` model of the `mistralai`
SDK (3.x), so a response from the Mistral API and one from the offline parser
validate against the same models. Every parser returns an `OCRResponse` for one
page batch; `pages[].index` restarts at 0 in each batch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OCRPageDimensions(BaseModel):
    dpi: int
    height: int
    width: int


class OCRImageObject(BaseModel):
    """An image on a page; its bbox is in pixels of the page at `dimensions.dpi`."""

    id: str
    top_left_x: int | None
    top_left_y: int | None
    bottom_right_x: int | None
    bottom_right_y: int | None
    image_base64: str | None = None
    # A JSON string produced by `bbox_annotation_format`, such as
    # '{"image_type": "graph", "description": "..."}'.
    image_annotation: str | None = None


class OCRTableObject(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    content: str
    format: str = Field(default="html")


class OCRPageObject(BaseModel):
    index: int
    markdown: str
    images: list[OCRImageObject] = Field(default_factory=list)
    tables: list[OCRTableObject] = Field(default_factory=list)
    hyperlinks: list[str] = Field(default_factory=list)
    header: str | None = None
    footer: str | None = None
    dimensions: OCRPageDimensions | None


class OCRUsageInfo(BaseModel):
    pages_processed: int
    doc_size_bytes: int | None = None


class OCRResponse(BaseModel):
    pages: list[OCRPageObject]
    model: str
    usage_info: OCRUsageInfo
    # A JSON string produced by `document_annotation_format`, such as
    # '{"summary": "...", "authors": ["..."]}'.
    document_annotation: str | None = None
