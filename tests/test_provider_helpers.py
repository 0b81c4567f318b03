"""Secret references (SSM, Secrets Manager, via moto) and fitting images under a provider's size limit."""

from __future__ import annotations

import io

import boto3
import numpy as np
import pytest
from moto import mock_aws
from PIL import Image

from ragagent.errors import ConfigurationError
from ragagent.images import base64_size, fit_image
from ragagent.secrets import clear_secret_cache, resolve_secret

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    clear_secret_cache()
    yield
    clear_secret_cache()


def test_secret_plain_value_returned():
    assert resolve_secret("plain-key") == "plain-key"


def test_secret_empty_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_MISTRAL_API_KEY is empty"):
        resolve_secret(" ", setting="RAGAGENT_MISTRAL_API_KEY")


def test_secret_ssm_securestring_decrypted():
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name="/ragagent/mistral", Value="ssm-secret", Type="SecureString")

        assert resolve_secret("ssm:/ragagent/mistral", region=REGION) == "ssm-secret"


def test_secret_ssm_cached_per_process():
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name="/ragagent/key", Value="first", Type="SecureString")
        first = resolve_secret("ssm:/ragagent/key", region=REGION)
        ssm.put_parameter(Name="/ragagent/key", Value="second", Type="SecureString", Overwrite=True)

        assert first == "first"
        assert resolve_secret("ssm:/ragagent/key", region=REGION) == "first"


def test_secret_secretsmanager_read():
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        client.create_secret(Name="ragagent/openai", SecretString="sm-secret")

        assert resolve_secret("secretsmanager:ragagent/openai", region=REGION) == "sm-secret"


def test_secret_missing_parameter_raises():
    with mock_aws():
        with pytest.raises(ConfigurationError, match="RAGAGENT_OPENAI_API_KEY: reading SSM parameter '/missing'"):
            resolve_secret("ssm:/missing", setting="RAGAGENT_OPENAI_API_KEY", region=REGION)


def noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_small_png_unchanged():
    data = noise_png(50, 40)

    fitted, image_format = fit_image(data, max_base64_bytes=1_000_000)

    assert fitted == data
    assert image_format == "png"


def test_image_large_png_downscaled():
    data = noise_png(600, 400)
    limit = 200_000
    assert base64_size(len(data)) > limit

    fitted, image_format = fit_image(data, max_base64_bytes=limit)

    assert base64_size(len(fitted)) <= limit
    assert image_format == "png"
    assert Image.open(io.BytesIO(fitted)).size[0] < 600


def test_image_large_jpeg_stays_jpeg():
    buffer = io.BytesIO()
    Image.open(io.BytesIO(noise_png(800, 600))).save(buffer, format="JPEG", quality=95)
    limit = 100_000

    fitted, image_format = fit_image(buffer.getvalue(), max_base64_bytes=limit)

    assert base64_size(len(fitted)) <= limit
    assert image_format == "jpeg"
    assert Image.open(io.BytesIO(fitted)).format == "JPEG"


def test_image_not_an_image_raises():
    with pytest.raises(ValueError, match="cannot be decoded"):
        fit_image(b"not an image", max_base64_bytes=1000)
