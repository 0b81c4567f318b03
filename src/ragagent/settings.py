"""One settings object for every command and Lambda, read from RAGAGENT_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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

    # Model providers. A secret may be given as a value, as ssm:/parameter/name or as secretsmanager:secret-id.
    mistral_api_key: str | None = Field(default=None, description="Mistral API key, or an ssm: or secretsmanager: reference to it")
    mistral_model: str = Field(default="mistral-ocr-latest", description="Mistral OCR model id")
    mistral_server_url: str | None = Field(default=None, description="Mistral API base URL; empty for the SDK's default")
    provider_max_retries: int = Field(default=3, ge=0, le=10, description="Client-side retries of a provider call on HTTP 429, 5xx or a timeout; 0 inside Lambdas, where the state machine retries")
    provider_retry_backoff: float = Field(default=1.0, ge=0, description="Seconds before the first client-side retry; doubles on each further retry")
    provider_timeout: float = Field(default=120.0, gt=0, description="Seconds before one provider request times out")
    aws_region: str | None = Field(default=None, description="AWS region of Bedrock, SSM and Secrets Manager; empty for boto3's default")
    bedrock_chat_model: str = Field(default="us.anthropic.claude-3-5-haiku-20241022-v1:0", description="Bedrock model or inference profile id of the chat model")
    bedrock_embedding_model: str = Field(default="amazon.titan-embed-text-v2:0", description="Bedrock embedding model id")
    embedding_dimension: int = Field(default=1024, description="Bedrock embedding dimension: 256, 512 or 1024")
    openai_base_url: str | None = Field(default=None, description="Base URL of an OpenAI-compatible chat API, e.g. http://localhost:11434/v1 for Ollama")
    openai_model: str | None = Field(default=None, description="Chat model id at the OpenAI-compatible API")
    openai_api_key: str | None = Field(default=None, description="API key of the OpenAI-compatible API, or an ssm: or secretsmanager: reference to it")

    # OpenSearch store, used when `store` is a URL.
    opensearch_auth: Literal["none", "sigv4"] = Field(default="none", description="none, or sigv4 to sign requests with boto3's AWS credentials")
    opensearch_service: Literal["es", "aoss"] = Field(default="es", description="SigV4 service: es for a managed domain, aoss for OpenSearch Serverless (no custom ids, no refresh)")
    opensearch_engine: Literal["faiss", "lucene", "nmslib"] = Field(default="faiss", description="k-NN engine of a new index")
    opensearch_space_type: Literal["l2", "innerproduct", "cosinesimil"] = Field(default="l2", description="k-NN space type of a new index")

    @property
    def store_is_url(self) -> bool:
        return self.store.startswith(("http://", "https://"))

    @property
    def store_path(self) -> Path:
        return Path(self.store)
