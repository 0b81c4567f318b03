"""Amazon Bedrock clients: the Converse chat model and the bedrock-runtime client behind it and the embedder."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ragagent.errors import ConfigurationError
from ragagent.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

REGION_SETTING = "RAGAGENT_AWS_REGION"
CONNECT_TIMEOUT_SECONDS = 10
CHAT_TEMPERATURE = 0.0
CHAT_MAX_TOKENS = 4096


def bedrock_runtime_client(settings: Settings) -> Any:
    """Create a bedrock-runtime client whose retries and timeouts come from the settings.

    botocore's standard retry mode retries throttling, 5xx and timeouts with
    exponential backoff; `provider_max_retries=0` leaves retrying to the state machine.
    Raises `ConfigurationError` when boto3 finds no region or no credentials.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as error:
        raise ConfigurationError("the bedrock provider needs boto3: pip install 'ragagent[aws,providers]'") from error

    session = boto3.Session(region_name=settings.aws_region)
    if not session.region_name:
        raise ConfigurationError(f"{REGION_SETTING} is not set: the bedrock provider needs the AWS region of the Bedrock models (or set AWS_DEFAULT_REGION)")
    if session.get_credentials() is None:
        raise ConfigurationError(
            "the bedrock provider found no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role"
        )

    config = Config(
        retries={"total_max_attempts": settings.provider_max_retries + 1, "mode": "standard"},
        read_timeout=settings.provider_timeout,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )
    return session.client("bedrock-runtime", config=config)


def build_bedrock_chat_model(settings: Settings, client: Any | None = None) -> BaseChatModel:
    """Create the Converse chat model of `bedrock_chat_model`, on `client` when one is given."""
    try:
        from langchain_aws import ChatBedrockConverse
    except ImportError as error:
        raise ConfigurationError("the bedrock provider needs langchain-aws: pip install 'ragagent[providers]'") from error

    runtime = client if client is not None else bedrock_runtime_client(settings)
    return ChatBedrockConverse(
        model=settings.bedrock_chat_model,
        client=runtime,
        region_name=settings.aws_region or runtime.meta.region_name,
        temperature=CHAT_TEMPERATURE,
        max_tokens=CHAT_MAX_TOKENS,
        disable_streaming=True,
    )
