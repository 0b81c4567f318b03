"""Lambda: answer POST /query with the agent, within the API's deadline."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragagent.api import HttpApi
from ragagent.aws.config import AwsSettings
from ragagent.aws.runtime import services_from_environment, share_log_config, silence_empty_metrics_warning

logger = Logger()
tracer = Tracer()
metrics = Metrics()
share_log_config(logger)
silence_empty_metrics_warning()
services = services_from_environment()
aws_settings = AwsSettings()
api = HttpApi(
    services.settings,
    services.status,
    deadline_seconds=aws_settings.query_deadline_seconds,
    margin_seconds=aws_settings.deadline_margin_seconds,
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict, context: LambdaContext) -> dict:
    return api.handle(event, remaining_ms=context.get_remaining_time_in_millis())
