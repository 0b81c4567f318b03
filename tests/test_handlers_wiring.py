"""Values template.yaml hands to the functions, and what the handlers print around an invocation."""

from __future__ import annotations

import warnings
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from lambda_harness import REGION, TABLE, FakeLambdaContext, aws_environment, load_handler_module
from ragagent.aws.runtime import EMPTY_METRICS_WARNING
from ragagent.models import DocumentRef
from ragagent.store.opensearch import SERVERLESS_HOST_SUFFIX, parse_opensearch_url

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
# The form of an OpenSearch Serverless collection's CollectionEndpoint attribute: a URL with no port and no path.
COLLECTION_ENDPOINT = "https://0a1b2c3d4e5f6g7h8i9j.us-east-1.aoss.amazonaws.com"


class TemplateLoader(yaml.SafeLoader):
    """Read CloudFormation short-form tags (!Ref, !Sub, !If, ...) as their long-form mappings."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


TemplateLoader.add_multi_constructor("!", _construct_tag)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=TemplateLoader)


def created_collection_store_url(template: dict) -> str:
    """Fill the RAGAGENT_STORE pattern that the stack uses when it creates its own collection."""
    value = template["Globals"]["Function"]["Environment"]["Variables"]["RAGAGENT_STORE"]
    condition, when_created, _ = value["Fn::If"]
    assert condition == "CreateCollection"
    pattern = when_created["Fn::Sub"]
    index = str(template["Parameters"]["OpenSearchIndex"]["Default"])
    url = pattern.replace("${Collection.CollectionEndpoint}", COLLECTION_ENDPOINT).replace("${OpenSearchIndex}", index)
    assert "${" not in url, f"unfilled placeholder in {pattern!r}"
    return url


def test_template_store_url_parses(template):
    location = parse_opensearch_url(created_collection_store_url(template))

    assert location.scheme == "https"
    assert location.port == 443
    assert location.host.endswith(SERVERLESS_HOST_SUFFIX)
    assert location.index == template["Parameters"]["OpenSearchIndex"]["Default"]


@pytest.mark.parametrize(("url", "port"), [("http://localhost/chunks", 80), ("https://search.example.com/chunks", 443)])
def test_store_url_default_port(url, port):
    assert parse_opensearch_url(url).port == port


def test_handler_without_metrics_warns_nothing(tmp_path, monkeypatch):
    aws_environment(monkeypatch, tmp_path / "store")
    document = DocumentRef.from_uri("s3://bucket/documents/a.pdf", "a.pdf")
    with mock_aws():
        boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "document_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "document_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = load_handler_module("mark_processing")
            result = module.handler({"document": document.model_dump(mode="json")}, FakeLambdaContext("MarkProcessing"))

    assert result == {"status": "processing"}
    assert [str(warning.message) for warning in caught if str(warning.message).startswith(EMPTY_METRICS_WARNING)] == []
