"""Lambda: start one ingestion execution per S3 Object Created event from EventBridge.

The EventBridge rule targets this function rather than the state machine,
because an EventBridge target cannot name the execution. Here the name is a hash
of bucket, key and sequencer, so a re-delivered event starts nothing new, and
the key is URL-decoded before any state sees it.
"""

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
    results = tasks.start_ingestion(event, services, aws_settings.state_machine_arn, aws_settings.documents_prefix)
    started = sum(1 for result in results if result.started)
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=started)
    return {"results": [result.model_dump() for result in results]}
