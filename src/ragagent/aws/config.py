"""Settings only the AWS deployment needs, read from RAGAGENT_* variables that template.yaml sets."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AwsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGAGENT_", extra="ignore")

    bucket: str = Field(default="", description="Bucket of the PDFs and of the work/ artifacts")
    documents_prefix: str = Field(default="documents/", description="Key prefix under which uploaded PDFs are ingested")
    status_table: str = Field(default="", description="DynamoDB table of document status")
    state_machine_arn: str = Field(default="", description="ARN of the ingestion state machine")
    query_deadline_seconds: float = Field(default=25.0, gt=0, description="Seconds the agent may spend on one query")
    deadline_margin_seconds: float = Field(default=2.0, ge=0, description="Seconds kept free before the Lambda times out")
