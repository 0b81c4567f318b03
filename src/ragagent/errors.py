"""Exceptions raised by ragagent, so callers can catch exactly what they handle."""


class RagAgentError(Exception):
    """Base class of every error raised on purpose by ragagent."""


class InvalidDocumentError(RagAgentError):
    """A file cannot be ingested: not a PDF, encrypted with a password, corrupted or empty."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class DocumentTooLargeError(InvalidDocumentError):
    """A PDF has more pages than the configured maximum."""


class EmbedderMismatchError(RagAgentError):
    """An index was built with another embedder than the one in use."""


class ProviderError(RagAgentError):
    """A provider call failed for a reason that retrying will not fix (bad key, bad request)."""


class ProviderTransientError(RagAgentError):
    """A provider returned HTTP 429 or 5xx, or timed out: retrying later may succeed.

    The state machine's Retry matches this class name, so keep it stable.
    """


class ConfigurationError(RagAgentError):
    """A setting is missing or invalid; the message names the setting."""


class AgentTimeoutError(RagAgentError):
    """The agent's deadline passed before it could generate an answer."""
