"""Resolve secrets given as values or as references to AWS Parameter Store and Secrets Manager.

A setting such as RAGAGENT_MISTRAL_API_KEY can hold the key itself (handy on a
laptop) or a reference, so a Lambda's environment never contains the key:

- `ssm:/ragagent/mistral-api-key` reads a Parameter Store parameter, decrypted
  when it is a SecureString;
- `secretsmanager:ragagent/mistral` reads a Secrets Manager secret's SecretString.

Resolved values are cached for the life of the process, so a warm Lambda reads
each secret once. Secret values are never logged.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from ragagent.errors import ConfigurationError

logger = logging.getLogger(__name__)

SSM_PREFIX = "ssm:"
SECRETS_MANAGER_PREFIX = "secretsmanager:"


def resolve_secret(value_or_reference: str, *, setting: str = "secret", region: str | None = None) -> str:
    """Return the secret itself, reading it from AWS when the value is an `ssm:` or `secretsmanager:` reference.

    `setting` names the setting the value came from, for error messages. Raises
    `ConfigurationError` when the value is empty or the reference cannot be read.
    """
    if not value_or_reference or not value_or_reference.strip():
        raise ConfigurationError(f"{setting} is empty: set it to the secret or to an ssm: or secretsmanager: reference")

    if value_or_reference.startswith(SSM_PREFIX):
        return _read_parameter(value_or_reference[len(SSM_PREFIX) :], setting, region)
    if value_or_reference.startswith(SECRETS_MANAGER_PREFIX):
        return _read_secret(value_or_reference[len(SECRETS_MANAGER_PREFIX) :], setting, region)
    return value_or_reference


def clear_secret_cache() -> None:
    """Forget every resolved secret, so the next call reads AWS again (after a rotation, or in tests)."""
    _read_parameter.cache_clear()
    _read_secret.cache_clear()


def _client(service: str, setting: str, region: str | None) -> Any:
    try:
        import boto3
    except ImportError as error:
        raise ConfigurationError(f"reading a {service} reference needs boto3: pip install 'ragagent[aws]'") from error
    session = boto3.Session(region_name=region)
    if not session.region_name:
        raise ConfigurationError(f"{setting} is a {service} reference but RAGAGENT_AWS_REGION is not set: set it or AWS_DEFAULT_REGION")
    return session.client(service)


@functools.lru_cache(maxsize=64)
def _read_parameter(name: str, setting: str, region: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _client("ssm", setting, region).get_parameter(Name=name, WithDecryption=True)
    except (BotoCoreError, ClientError) as error:
        raise ConfigurationError(f"{setting}: reading SSM parameter {name!r} failed: {error}") from error
    logger.info("Read secret from SSM parameter %s", name)
    return response["Parameter"]["Value"]


@functools.lru_cache(maxsize=64)
def _read_secret(secret_id: str, setting: str, region: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _client("secretsmanager", setting, region).get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as error:
        raise ConfigurationError(f"{setting}: reading secret {secret_id!r} from Secrets Manager failed: {error}") from error
    if "SecretString" not in response:
        raise ConfigurationError(f"{setting}: secret {secret_id!r} has no SecretString (binary secrets are not supported)")
    logger.info("Read secret %s from Secrets Manager", secret_id)
    return response["SecretString"]
