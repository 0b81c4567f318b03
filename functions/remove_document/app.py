"""Lambda: remove a deleted PDF's chunks, status and work files on an S3 Object Deleted event."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragagent.aws import tasks
from ragagent.aws.config import AwsSettings
from ragagent.aws.runtime import services_from_environment, share_log_config

logger = Logger()
tracer = Tracer()
metrics = Metrics()
share_log_config(logger)
services = services_from_environment()
aws_settings = AwsSettings()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    results = tasks.remove_documents(event, services, aws_settings.documents_prefix)
    metrics.add_metric(name="ChunksRemoved", unit=MetricUnit.Count, value=sum(result.removed_chunks for result in results))
    return {"results": [result.model_dump() for result in results]}
