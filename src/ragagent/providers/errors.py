"""Translate the exceptions of boto3, the openai SDK and LangChain into ragagent's provider errors.

Throttling, 5xx, timeouts and connection failures become `ProviderTransientError`,
which the state machine's Retry matches. Failures a retry will not fix become
`ProviderError`, or `ConfigurationError` for missing credentials.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from pydantic import ValidationError

from ragagent.errors import ConfigurationError, ProviderError, ProviderTransientError, RagAgentError

logger = logging.getLogger(__name__)

# Bedrock error codes a later retry may get past.
TRANSIENT_AWS_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelTimeoutException",
        "ModelNotReadyException",
    }
)
AWS_CREDENTIAL_CODES = frozenset({"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"})


@contextlib.contextmanager
def provider_errors(provider: str, key_setting: str | None = None) -> Iterator[None]:
    """Re-raise any failure of the block as ProviderTransientError, ProviderError or ConfigurationError.

    `provider` names the provider in messages ("Bedrock", "OpenAI-compatible API"),
    `key_setting` the setting that contains its API key, named when the key is rejected.
    """
    try:
        yield
    except RagAgentError:
        raise
    except Exception as error:
        translated = translate_error(error, provider, key_setting)
        if translated is None:
            raise
        raise translated from error


def translate_error(error: BaseException, provider: str, key_setting: str | None = None) -> RagAgentError | None:
    """Return the ragagent error for a provider SDK's exception, or None for an exception of no provider."""
    # LangChain wraps some SDK errors (a ValueError around a ClientError), so the cause is checked too.
    for candidate in (error, error.__cause__):
        if candidate is None:
            continue
        translated = _translate_aws(candidate, provider) or _translate_openai(candidate, provider, key_setting)
        if translated is not None:
            return translated

    if isinstance(error, ValidationError) or type(error).__name__ == "OutputParserException":
        return ProviderError(f"{provider} returned a reply that does not match the expected structure: {error}")
    return None


def _translate_aws(error: BaseException, provider: str) -> RagAgentError | None:
    try:
        from botocore import exceptions as aws
    except ImportError:
        return None

    if isinstance(error, aws.NoCredentialsError):
        return ConfigurationError(f"{provider}: no AWS credentials found; set AWS_PROFILE or the AWS_* variables, or run with an IAM role")
    if isinstance(error, (aws.ReadTimeoutError, aws.ConnectTimeoutError)):
        return ProviderTransientError(f"{provider} request timed out: {error}")
    if isinstance(error, aws.ConnectionError):
        return ProviderTransientError(f"{provider} connection failed: {error}")
    if not isinstance(error, aws.ClientError):
        return None

    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in TRANSIENT_AWS_CODES or status == 429 or status >= 500:
        return ProviderTransientError(f"{provider} returned {code or status}: {error}")
    if code in AWS_CREDENTIAL_CODES:
        return ProviderError(f"{provider} rejected the AWS credentials ({code}): check AWS_PROFILE or the AWS_* variables")
    return ProviderError(f"{provider} rejected the request ({code or status}): {error}")


def _translate_openai(error: BaseException, provider: str, key_setting: str | None) -> RagAgentError | None:
    try:
        import openai
    except ImportError:
        return None

    if isinstance(error, openai.APITimeoutError):
        return ProviderTransientError(f"{provider} request timed out")
    if isinstance(error, openai.APIConnectionError):
        return ProviderTransientError(f"{provider} connection failed: {error}")
    if isinstance(error, openai.AuthenticationError):
        hint = f": check {key_setting}" if key_setting else ""
        return ProviderError(f"{provider} rejected the API key (HTTP 401){hint}")
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429 or error.status_code >= 500:
            return ProviderTransientError(f"{provider} returned HTTP {error.status_code}: {error.message}")
        return ProviderError(f"{provider} rejected the request (HTTP {error.status_code}): {error.message}")
    if isinstance(error, openai.APIResponseValidationError):
        return ProviderError(f"{provider} returned a malformed response: {error}")
    return None
