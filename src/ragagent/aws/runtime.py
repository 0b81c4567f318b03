"""Lambda plumbing shared by the handlers in functions/: services from the environment and log keys."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ragagent.aws.artifacts import S3ArtifactStore
from ragagent.aws.config import AwsSettings
from ragagent.aws.status import DynamoDBStatusStore
from ragagent.aws.tasks import Services
from ragagent.settings import Settings

logger = logging.getLogger(__name__)

PACKAGE_LOGGER = "ragagent"
# Start of the UserWarning that Powertools' Metrics.log_metrics emits when an invocation added no metric.
EMPTY_METRICS_WARNING = "No application metrics to publish"


def services_from_environment() -> Services:
    """Create the clients once per container, from RAGAGENT_* variables and the Lambda's AWS credentials."""
    import boto3

    aws = AwsSettings()
    s3 = boto3.client("s3")
    status = DynamoDBStatusStore(aws.status_table, boto3.resource("dynamodb"))
    return Services(Settings(), S3ArtifactStore(aws.bucket, "", s3), status, s3, boto3.client("stepfunctions"))


def share_log_config(powertools_logger: Any) -> None:
    """Send the package's `logging.getLogger(__name__)` records through the Powertools logger's JSON formatter."""
    from aws_lambda_powertools.logging import utils

    utils.copy_config_to_registered_loggers(source_logger=powertools_logger, include={PACKAGE_LOGGER})


def log_keys(event: Any) -> dict[str, str]:
    """Return the document_id and execution_id of a task event, for Logger.append_keys."""
    keys: dict[str, str] = {}
    if isinstance(event, dict):
        document = event.get("document")
        if isinstance(document, dict) and document.get("document_id"):
            keys["document_id"] = str(document["document_id"])
        if event.get("execution_id"):
            keys["execution_id"] = str(event["execution_id"])
    return keys


def silence_empty_metrics_warning() -> None:
    """Ignore the empty-metrics warning, for handlers that publish no metric of their own.

    Powertools 3 has no option for it: its metrics documentation suggests this warnings filter.
    """
    warnings.filterwarnings("ignore", message=EMPTY_METRICS_WARNING, category=UserWarning)
