"""Build the configured providers from one `Settings` object.

Heavy modules (onnxruntime, langgraph, provider SDKs) are imported inside the
builders, so importing ragagent stays cheap for a Lambda's cold start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragagent.errors import ConfigurationError
from ragagent.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from ragagent.agent.base import AnswerGenerator, QueryRewriter, RelevanceGrader
    from ragagent.agent.graph import Agent
    from ragagent.describe.base import Describer
    from ragagent.embedding.base import Embedder
    from ragagent.parsing.base import Parser
    from ragagent.status import LocalStatusStore
    from ragagent.store.base import VectorStore


def build_parser(settings: Settings) -> Parser:
    if settings.parser == "local":
        from ragagent.parsing.local import LocalParser

        return LocalParser(ocr_languages=settings.ocr_languages)
    if settings.parser == "mistral":
        from ragagent.parsing.mistral import MistralOCRParser
        from ragagent.secrets import resolve_secret

        if not settings.mistral_api_key:
            raise ConfigurationError("RAGAGENT_MISTRAL_API_KEY is not set: the mistral parser needs a Mistral API key")
        return MistralOCRParser(
            api_key=resolve_secret(settings.mistral_api_key, setting="RAGAGENT_MISTRAL_API_KEY", region=settings.aws_region),
            model=settings.mistral_model,
            server_url=settings.mistral_server_url,
            max_retries=settings.provider_max_retries,
            retry_backoff=settings.provider_retry_backoff,
            timeout=settings.provider_timeout,
        )
    raise ConfigurationError(f"RAGAGENT_PARSER={settings.parser!r} is not a known parser; use local or mistral")


def build_describer(settings: Settings) -> Describer:
    if settings.describer == "offline":
        from ragagent.describe.offline import OfflineDescriber

        return OfflineDescriber()
    if settings.describer in CHAT_PROVIDERS:
        from ragagent.describe.llm import LLMDescriber

        # No fallback here: describe_document falls back to the offline describer and records a warning.
        return LLMDescriber(build_chat_model(settings, settings.describer), name=settings.describer, key_setting=CHAT_PROVIDERS[settings.describer])
    raise ConfigurationError(f"RAGAGENT_DESCRIBER={settings.describer!r} is not a known describer; use offline, bedrock or openai")


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "minilm":
        from ragagent.embedding.minilm import MiniLMEmbedder

        return MiniLMEmbedder()
    if settings.embedder == "bedrock":
        from ragagent.embedding.bedrock import BedrockEmbedder
        from ragagent.providers.bedrock import bedrock_runtime_client

        return BedrockEmbedder(bedrock_runtime_client(settings), model_id=settings.bedrock_embedding_model, dimension=settings.embedding_dimension)
    raise ConfigurationError(f"RAGAGENT_EMBEDDER={settings.embedder!r} is not a known embedder; use minilm or bedrock")


# Chat providers, each with the setting that holds its API key (Bedrock uses AWS credentials).
CHAT_PROVIDERS: dict[str, str | None] = {"bedrock": None, "openai": "RAGAGENT_OPENAI_API_KEY"}


def build_chat_model(settings: Settings, provider: str) -> BaseChatModel:
    """Create the LangChain chat model of `provider`: bedrock or openai (any OpenAI-compatible API)."""
    if provider == "bedrock":
        from ragagent.providers.bedrock import build_bedrock_chat_model

        return build_bedrock_chat_model(settings)
    if provider == "openai":
        from ragagent.providers.openai_compatible import build_openai_chat_model

        return build_openai_chat_model(settings)
    raise ConfigurationError(f"chat provider {provider!r} is not known; use bedrock or openai")


def build_chat_components(settings: Settings) -> tuple[RelevanceGrader, QueryRewriter, AnswerGenerator]:
    """Create the language-model grader, rewriter and generator of `settings.chat` (bedrock or openai)."""
    if settings.chat not in CHAT_PROVIDERS:
        raise ConfigurationError(f"RAGAGENT_CHAT={settings.chat!r} has no language-model components; use bedrock or openai")
    from ragagent.agent.llm import LLMGenerator, LLMGrader, LLMRewriter

    model = build_chat_model(settings, settings.chat)
    key_setting = CHAT_PROVIDERS[settings.chat]
    return (
        LLMGrader(model, settings.chat, key_setting),
        LLMRewriter(model, settings.chat, key_setting),
        LLMGenerator(model, settings.chat, key_setting),
    )


def open_store(settings: Settings, embedder: Embedder) -> VectorStore:
    if settings.store_is_url:
        from ragagent.store.opensearch import OpenSearchStore

        return OpenSearchStore.open(
            settings.store,
            embedder,
            auth=settings.opensearch_auth,
            service=settings.opensearch_service,
            region=settings.aws_region,
            engine=settings.opensearch_engine,
            space_type=settings.opensearch_space_type,
        )
    from ragagent.store.local import LocalStore

    return LocalStore.open(settings.store_path, embedder)


def build_status_store(settings: Settings) -> LocalStatusStore:
    """Open the local document status store: inside the store directory, or in `.ragagent` for an OpenSearch store."""
    from ragagent.status import LocalStatusStore

    return LocalStatusStore(Path(".ragagent") if settings.store_is_url else settings.store_path)


def build_agent(settings: Settings) -> Agent:
    """Create the query agent: offline components, or a language model's for `chat` bedrock or openai."""
    from ragagent.agent.graph import Agent

    embedder = build_embedder(settings)
    store = open_store(settings, embedder)
    if settings.chat == "offline":
        grader, rewriter, generator = _build_offline_components(store)
    elif settings.chat in CHAT_PROVIDERS:
        grader, rewriter, generator = build_chat_components(settings)
    else:
        raise ConfigurationError(f"RAGAGENT_CHAT={settings.chat!r} is not a known chat provider; use offline, bedrock or openai")
    return Agent(store, embedder, grader, rewriter, generator, top_k=settings.top_k, max_retries=settings.max_retries)


def _build_offline_components(store: VectorStore) -> tuple[RelevanceGrader, QueryRewriter, AnswerGenerator]:
    from ragagent.agent.offline import ExtractiveGenerator, FeedbackRewriter, OverlapGrader
    from ragagent.agent.terms import TermStatistics

    statistics = TermStatistics.from_store(store)
    return OverlapGrader(statistics), FeedbackRewriter(statistics), ExtractiveGenerator(statistics)
