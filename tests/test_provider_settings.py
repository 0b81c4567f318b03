"""Each provider built through the factory or the CLI without a required setting raises a ConfigurationError naming it.

Every test runs with no AWS configuration: no region, no credentials, no
config files, and the EC2 instance metadata service switched off, so boto3
looks nowhere but the environment the test sets.
"""

from __future__ import annotations

import os

import pytest

from ragagent import cli
from ragagent.errors import ConfigurationError
from ragagent.factory import build_agent, build_chat_components, build_describer, build_embedder, build_parser, open_store
from ragagent.secrets import clear_secret_cache
from ragagent.settings import Settings

REGION = "eu-west-1"
MANAGED_URL = "https://search-papers-abc123.eu-west-1.es.amazonaws.com/chunks"
SERVERLESS_URL = "https://abc123.eu-west-1.aoss.amazonaws.com/chunks"
AWS_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture(autouse=True)
def no_aws_configuration(monkeypatch, tmp_path):
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("RAGAGENT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clear_secret_cache()


@pytest.fixture
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


class FixedEmbedder:
    """Stands in for an embedder where the store is rejected before any embedding."""

    embedder_id = "fixed:4"
    dimension = 4


# --- Mistral OCR ---------------------------------------------------------------


def test_mistral_parser_without_key_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_MISTRAL_API_KEY is not set"):
        build_parser(Settings(parser="mistral"))


def test_mistral_blank_key_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_MISTRAL_API_KEY is empty"):
        build_parser(Settings(parser="mistral", mistral_api_key="  "))


def test_mistral_ssm_key_needs_region():
    settings = Settings(parser="mistral", mistral_api_key="ssm:/ragagent/mistral-api-key")

    with pytest.raises(ConfigurationError) as caught:
        build_parser(settings)

    assert "RAGAGENT_MISTRAL_API_KEY" in str(caught.value)
    assert "RAGAGENT_AWS_REGION" in str(caught.value)


def test_mistral_secretsmanager_key_needs_region():
    settings = Settings(parser="mistral", mistral_api_key="secretsmanager:ragagent/mistral")

    with pytest.raises(ConfigurationError, match="RAGAGENT_AWS_REGION"):
        build_parser(settings)


def test_mistral_parser_from_cli_flag_names_key(tmp_path, capsys):
    pdf = tmp_path / "empty.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")

    exit_code = cli.main(["ingest", str(pdf), "--store", str(tmp_path / "store"), "--parser", "mistral", "--quiet"])

    assert exit_code == cli.EXIT_FAILED
    assert "RAGAGENT_MISTRAL_API_KEY" in capsys.readouterr().err


# --- Bedrock -------------------------------------------------------------------


def test_bedrock_agent_without_region_names_setting(tmp_path):
    settings = Settings(chat="bedrock", store=str(tmp_path / "store"))

    with pytest.raises(ConfigurationError, match="RAGAGENT_AWS_REGION is not set"):
        build_agent(settings)


def test_bedrock_chat_without_region_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_AWS_REGION is not set"):
        build_chat_components(Settings(chat="bedrock"))


def test_bedrock_describer_without_region_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_AWS_REGION is not set"):
        build_describer(Settings(describer="bedrock"))


def test_bedrock_embedder_without_region_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_AWS_REGION is not set"):
        build_embedder(Settings(embedder="bedrock"))


def test_bedrock_without_credentials_names_variables():
    with pytest.raises(ConfigurationError) as caught:
        build_chat_components(Settings(chat="bedrock", aws_region=REGION))

    assert "no AWS credentials" in str(caught.value)
    assert "AWS_PROFILE" in str(caught.value)


def test_bedrock_region_from_aws_default_region(monkeypatch, aws_credentials):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    embedder = build_embedder(Settings(embedder="bedrock"))

    assert embedder.embedder_id == "bedrock:amazon.titan-embed-text-v2:0:1024"


def test_bedrock_chat_from_cli_flag_names_region(tmp_path, capsys):
    from ragagent.embedding.minilm import MiniLMEmbedder
    from ragagent.store.local import LocalStore

    LocalStore.open(tmp_path / "store", MiniLMEmbedder())
    exit_code = cli.main(["ask", "What is KDA?", "--store", str(tmp_path / "store"), "--chat", "bedrock"])

    assert exit_code == cli.EXIT_FAILED
    assert "RAGAGENT_AWS_REGION" in capsys.readouterr().err


# --- OpenAI-compatible API ---------------------------------------------------


def test_openai_describer_without_model_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_OPENAI_MODEL is not set"):
        build_describer(Settings(describer="openai"))


def test_openai_chat_without_key_or_url_names_both():
    with pytest.raises(ConfigurationError) as caught:
        build_chat_components(Settings(chat="openai", openai_model="gpt-4o-mini"))

    assert "RAGAGENT_OPENAI_API_KEY" in str(caught.value)
    assert "RAGAGENT_OPENAI_BASE_URL" in str(caught.value)


def test_openai_ssm_key_needs_region():
    settings = Settings(chat="openai", openai_model="gpt-4o-mini", openai_api_key="ssm:/ragagent/openai-api-key")

    with pytest.raises(ConfigurationError) as caught:
        build_chat_components(settings)

    assert "RAGAGENT_OPENAI_API_KEY" in str(caught.value)
    assert "RAGAGENT_AWS_REGION" in str(caught.value)


# --- OpenSearch ----------------------------------------------------------------


def test_opensearch_sigv4_without_region_names_setting(aws_credentials):
    settings = Settings(store=MANAGED_URL, opensearch_auth="sigv4")

    with pytest.raises(ConfigurationError, match="RAGAGENT_AWS_REGION"):
        open_store(settings, FixedEmbedder())


def test_opensearch_sigv4_without_credentials_names_variables():
    settings = Settings(store=MANAGED_URL, opensearch_auth="sigv4", aws_region=REGION)

    with pytest.raises(ConfigurationError) as caught:
        open_store(settings, FixedEmbedder())

    assert "RAGAGENT_OPENSEARCH_AUTH=sigv4" in str(caught.value)
    assert "AWS_PROFILE" in str(caught.value)


def test_opensearch_serverless_host_needs_sigv4():
    settings = Settings(store=SERVERLESS_URL, opensearch_service="aoss", aws_region=REGION)

    with pytest.raises(ConfigurationError, match="RAGAGENT_OPENSEARCH_AUTH=sigv4"):
        open_store(settings, FixedEmbedder())


def test_opensearch_serverless_host_needs_aoss_service(aws_credentials):
    settings = Settings(store=SERVERLESS_URL, opensearch_auth="sigv4", aws_region=REGION)

    with pytest.raises(ConfigurationError, match="RAGAGENT_OPENSEARCH_SERVICE=aoss"):
        open_store(settings, FixedEmbedder())


def test_opensearch_managed_host_rejects_aoss_service(aws_credentials):
    settings = Settings(store=MANAGED_URL, opensearch_auth="sigv4", opensearch_service="aoss", aws_region=REGION)

    with pytest.raises(ConfigurationError, match="RAGAGENT_OPENSEARCH_SERVICE=es"):
        open_store(settings, FixedEmbedder())


def test_opensearch_url_without_index_names_form():
    settings = Settings(store="https://search-papers-abc123.eu-west-1.es.amazonaws.com")

    with pytest.raises(ConfigurationError, match="index name is missing"):
        open_store(settings, FixedEmbedder())


# --- provider names and CLI flags ------------------------------------------------


@pytest.mark.parametrize(
    ("build", "settings", "setting"),
    [
        (build_parser, Settings(parser="tesseract"), "RAGAGENT_PARSER='tesseract'"),
        (build_describer, Settings(describer="claude"), "RAGAGENT_DESCRIBER='claude'"),
        (build_embedder, Settings(embedder="titan"), "RAGAGENT_EMBEDDER='titan'"),
        (build_chat_components, Settings(chat="anthropic"), "RAGAGENT_CHAT='anthropic'"),
    ],
)
def test_unknown_provider_names_setting(build, settings, setting):
    with pytest.raises(ConfigurationError) as caught:
        build(settings)

    assert setting in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["ingest", "paper.pdf", "--parser", "mistral", "--describer", "bedrock", "--embedder", "bedrock"],
            {"parser": "mistral", "describer": "bedrock", "embedder": "bedrock", "chat": "offline"},
        ),
        (["ask", "question", "--embedder", "bedrock", "--chat", "openai"], {"embedder": "bedrock", "chat": "openai", "parser": "local"}),
        (["eval", "questions.jsonl", "--chat", "bedrock"], {"chat": "bedrock", "embedder": "minilm"}),
        (["serve", "--embedder", "bedrock", "--chat", "bedrock"], {"embedder": "bedrock", "chat": "bedrock"}),
    ],
)
def test_cli_provider_flags_set_settings(argv, expected):
    settings = cli._settings(cli.build_argument_parser().parse_args(argv))

    for field, value in expected.items():
        assert getattr(settings, field) == value, field


def test_cli_flag_overrides_environment(monkeypatch):
    monkeypatch.setenv("RAGAGENT_CHAT", "openai")
    monkeypatch.setenv("RAGAGENT_EMBEDDER", "bedrock")

    settings = cli._settings(cli.build_argument_parser().parse_args(["ask", "question", "--chat", "offline"]))

    assert settings.chat == "offline"
    assert settings.embedder == "bedrock"


def test_cli_unknown_provider_flag_rejected(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.build_argument_parser().parse_args(["ask", "question", "--chat", "claude"])

    assert caught.value.code == cli.EXIT_USAGE
    assert "--chat" in capsys.readouterr().err


def test_cli_ask_has_no_parser_flag(capsys):
    with pytest.raises(SystemExit):
        cli.build_argument_parser().parse_args(["ask", "question", "--parser", "mistral"])

    assert "unrecognized arguments: --parser" in capsys.readouterr().err
