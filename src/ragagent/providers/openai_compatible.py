"""Chat models behind an OpenAI-compatible chat-completions API: OpenAI, OpenRouter, Ollama, vLLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragagent.errors import ConfigurationError
from ragagent.secrets import resolve_secret
from ragagent.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

API_KEY_SETTING = "RAGAGENT_OPENAI_API_KEY"
CHAT_TEMPERATURE = 0.0
CHAT_MAX_TOKENS = 4096
# Local servers such as Ollama and vLLM accept any key, but the openai client requires one.
LOCAL_SERVER_API_KEY = "not-needed"


def build_openai_chat_model(settings: Settings) -> BaseChatModel:
    """Create a `ChatOpenAI` on `openai_base_url` and `openai_model`, retrying 429 and 5xx up to `provider_max_retries` times."""
    if not settings.openai_model:
        raise ConfigurationError("RAGAGENT_OPENAI_MODEL is not set: the openai chat provider needs a model id")
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as error:
        raise ConfigurationError("the openai chat provider needs langchain-openai: pip install 'ragagent[providers]'") from error

    if settings.openai_api_key:
        api_key = resolve_secret(settings.openai_api_key, setting=API_KEY_SETTING, region=settings.aws_region)
    elif settings.openai_base_url:
        api_key = LOCAL_SERVER_API_KEY
    else:
        raise ConfigurationError(f"{API_KEY_SETTING} is not set: it is required unless RAGAGENT_OPENAI_BASE_URL points at a local server")

    return ChatOpenAI(
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        api_key=api_key,
        temperature=CHAT_TEMPERATURE,
        max_tokens=CHAT_MAX_TOKENS,
        max_retries=settings.provider_max_retries,
        timeout=settings.provider_timeout,
    )
