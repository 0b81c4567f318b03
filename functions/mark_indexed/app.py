"""Lambda: record that the document is indexed, with its page and chunk counts."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragagent.aws import tasks
from ragagent.aws.runtime import log_keys, services_from_environment, share_log_config, silence_empty_metrics_warning

logger = Logger()
tracer = Tracer()
metrics = Metrics()
share_log_config(logger)
silence_empty_metrics_warning()
services = services_from_environment()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict, context: LambdaContext) -> dict:
    logger.append_keys(**log_keys(event))
    return tasks.mark_indexed(event, services)
