"""One settings object for every command and Lambda, read from RAGAGENT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGAGENT_", extra="ignore")

    store: str = Field(default=".ragagent", description="Embedded store directory, or an OpenSearch URL http(s)://HOST:PORT/INDEX")
    batch_size: int = Field(default=8, ge=1, description="Pages per page batch sent to the parser")
    max_pages: int = Field(default=2000, ge=1, description="Largest page count accepted for one PDF")
    parser: str = Field(default="local", description="OCR provider: local or mistral")
    describer: str = Field(default="offline", description="Table and figure describer: offline, bedrock or openai")
    embedder: str = Field(default="minilm", description="Embedder: minilm (offline) or bedrock")
    chat: str = Field(default="offline", description="Grader, rewriter and generator: offline, bedrock or openai")
    top_k: int = Field(default=5, ge=1, le=50, description="Chunks retrieved per query")
    max_retries: int = Field(default=2, ge=0, le=5, description="Query rewrites allowed when too few chunks are relevant")
    ocr_languages: str = Field(default="eng", description="Tesseract languages for pages with no text layer, e.g. eng+deu")

    @property
    def store_is_url(self) -> bool:
        return self.store.startswith(("http://", "https://"))

    @property
    def store_path(self) -> Path:
        return Path(self.store)
