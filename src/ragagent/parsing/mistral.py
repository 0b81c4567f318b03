"""Mistral OCR parser: one `POST /v1/ocr` call per page batch through the `mistralai` SDK (2.x and later import path)."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragagent.errors import ConfigurationError, ProviderError, ProviderTransientError
from ragagent.models import PageBatch
from ragagent.ocr import OCRResponse

logger = logging.getLogger(__name__)

API_KEY_SETTING = "RAGAGENT_MISTRAL_API_KEY"
DEFAULT_MODEL = "mistral-ocr-latest"
MAX_RETRY_AFTER_SECONDS = 60.0
ERROR_BODY_EXCERPT = 300
# Connection and timeout failures of httpx, or of httpx2 that mistralai 3.7 uses, matched by class name.
TRANSPORT_ERROR_NAMES = frozenset({"TransportError", "TimeoutException", "NetworkError"})


class ImageAnnotation(BaseModel):
    """Annotation schema that Mistral OCR fills for each image it cuts out of a page."""

    model_config = ConfigDict(extra="forbid")

    image_type: Literal["graph", "text", "table", "image"] = Field(
        description="graph for charts and plots, text for an image of text, table for an image of a table, image for anything else"
    )
    description: str = Field(description="What the image shows, with every value, label and trend that can be read from it")


class DocumentAnnotation(BaseModel):
    """Annotation schema that Mistral OCR fills for the whole page batch."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="A summary of the document in two to four sentences")
    authors: list[str] = Field(description="The authors' names as printed, in order; empty when none are printed")


def response_format(model: type[BaseModel]) -> dict[str, Any]:
    """Build the SDK's `ResponseFormat` (in its dict form) that asks for JSON matching `model`."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": model.__name__,
            "description": model.__doc__,
            "schema": model.model_json_schema(),
            "strict": True,
        },
    }


class MistralOCRParser:
    """Parse page batches with Mistral OCR, with bounded client-side retries on 429, 5xx and timeouts.

    `max_retries` is the number of retries after the first attempt. Set it to 0
    inside a Lambda, where the state machine's Retry owns backoff and matches
    the `ProviderTransientError` this parser raises once its retries are spent.
    """

    name = "mistral"

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_MODEL,
        server_url: str | None = None,
        max_retries: int = 3,
        retry_backoff: float = 1.0,
        timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ConfigurationError(f"{API_KEY_SETTING} is not set: the mistral parser needs a Mistral API key")
        try:
            from mistralai.client import Mistral
            from mistralai.client.utils import BackoffStrategy, RetryConfig
        except ImportError as error:
            raise ConfigurationError("the mistral parser needs mistralai>=2: pip install 'ragagent[providers]'") from error

        # The SDK's own retries are switched off: this class counts attempts itself.
        no_retries = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), retry_connection_errors=False)
        self._client = Mistral(api_key=api_key, server_url=server_url, retry_config=no_retries, timeout_ms=int(timeout * 1000))
        self.model = model
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._sleep = sleep

    def parse(self, batch: PageBatch) -> OCRResponse:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                sdk_response = self._process(batch)
                break
            except ProviderTransientError as error:
                if attempt > self.max_retries:
                    raise
                delay = self._retry_delay(attempt, error)
                logger.warning(
                    "Mistral OCR failed for document %s batch %d (attempt %d of %d), retrying in %.2f s: %s",
                    batch.document.document_id,
                    batch.batch_index,
                    attempt,
                    self.max_retries + 1,
                    delay,
                    error,
                )
                self._sleep(delay)

        response = convert_response(sdk_response, batch)
        logger.info(
            "Mistral OCR parsed document %s batch %d: %d pages in %.1f s, %d attempts",
            batch.document.document_id,
            batch.batch_index,
            len(response.pages),
            time.monotonic() - started,
            attempt,
        )
        return response

    def _process(self, batch: PageBatch) -> Any:
        from mistralai.client import errors

        document_url = "data:application/pdf;base64," + base64.b64encode(batch.pdf).decode("ascii")
        try:
            return self._client.ocr.process(
                model=self.model,
                document={"type": "document_url", "document_url": document_url},
                bbox_annotation_format=response_format(ImageAnnotation),
                document_annotation_format=response_format(DocumentAnnotation),
                include_image_base64=True,
                table_format="html",
            )
        except errors.ResponseValidationError as error:
            raise ProviderError(f"Mistral OCR returned a malformed response body: {error.cause}") from error
        except errors.MistralError as error:
            raise _status_error(error.status_code, error.body, error.headers.get("retry-after")) from error
        except errors.NoResponseError as error:
            raise ProviderTransientError(f"Mistral OCR returned no response: {error}") from error
        except Exception as error:
            if TRANSPORT_ERROR_NAMES & {cls.__name__ for cls in type(error).__mro__}:
                raise ProviderTransientError(f"Mistral OCR request failed or timed out: {type(error).__name__}: {error}") from error
            raise

    def _retry_delay(self, attempt: int, error: ProviderTransientError) -> float:
        delay = self.retry_backoff * 2 ** (attempt - 1)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return delay


def _status_error(status: int, body: str, retry_after: str | None) -> ProviderError | ProviderTransientError:
    excerpt = (body or "")[:ERROR_BODY_EXCERPT]
    if status == 429 or status >= 500:
        error = ProviderTransientError(f"Mistral OCR returned HTTP {status}: {excerpt}")
        error.retry_after = _seconds(retry_after)  # type: ignore[attr-defined]
        return error
    if status == 401:
        return ProviderError(f"Mistral OCR rejected the API key (HTTP 401): check {API_KEY_SETTING}")
    return ProviderError(f"Mistral OCR rejected the request (HTTP {status}): {excerpt}")


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header else None
    except ValueError:
        return None


def convert_response(sdk_response: Any, batch: PageBatch) -> OCRResponse:
    """Convert the SDK's `OCRResponse` into ragagent's, checking it has one page per page of the batch."""
    data = sdk_response.model_dump(mode="json", by_alias=True)
    for page in data.get("pages", []):
        # The SDK leaves optional lists as None when the API omits them.
        page["tables"] = page.get("tables") or []
        page["hyperlinks"] = page.get("hyperlinks") or []
        page["images"] = page.get("images") or []
    try:
        response = OCRResponse.model_validate(data)
    except ValidationError as error:
        raise ProviderError(f"Mistral OCR response for batch {batch.batch_index} is malformed: {error}") from error

    if len(response.pages) != batch.page_count:
        raise ProviderError(
            f"Mistral OCR returned {len(response.pages)} pages for batch {batch.batch_index} of {batch.page_count} pages"
        )
    return response
