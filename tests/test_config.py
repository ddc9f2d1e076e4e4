"""Input rules, table-driven: each row is step inputs (+ env) → the problems, or the parsed value."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_action import config
from faas_action.models import AwsOptions, AzureOptions, GcpOptions

AWS = {"provider": "aws", "function-name": "fn", "region": "eu-west-1"}
AZURE = {"provider": "azure", "function-name": "my-app", "resource-group": "rg",
         "subscription-id": "00000000-0000-0000-0000-000000000000"}
GCP = {"provider": "gcp", "function-name": "fn", "region": "us-central1", "project": "my-project-1"}


def step(inputs: dict[str, str]) -> dict[str, str]:
    """What the runner exports: every declared input, defaulted."""
    values = dict(config.input_defaults())
    values.update(inputs)
    return values


def load(inputs, workspace: Path, environ=None):
    return config.load(step(inputs), environ or {}, workspace)


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    return tmp_path


@pytest.mark.parametrize(
    ("inputs", "environ", "fields"),
    [
        ({}, {}, ["provider"]),
        ({"provider": "lambda"}, {}, ["provider"]),
        ({"provider": "aws"}, {"AWS_REGION": "us-east-1"}, ["function-name"]),
        ({**AWS, "region": ""}, {}, ["region"]),
        ({**AWS, "function-name": "x" * 65}, {}, ["function-name"]),
        ({**AWS, "memory": "64", "timeout": "901"}, {}, ["memory", "timeout"]),
        ({**AWS, "architectures": "x86_64,arm64"}, {}, ["architectures"]),
        ({**AWS, "architectures": "sparc"}, {}, ["architectures"]),
        ({**AWS, "layers": "not-an-arn"}, {}, ["layers"]),
        ({**AWS, "subnet-ids": "subnet-0123abcd"}, {}, ["subnet-ids"]),
        ({**AWS, "alias": "live", "publish": "false"}, {}, ["alias"]),
        ({**AWS, "alias": "123"}, {}, ["alias"]),
        ({**AWS, "role": "my-role"}, {}, ["role"]),
        ({**AWS, "environment": "AWS_REGION=x\n1BAD=y"}, {}, ["environment", "environment"]),
        ({**AWS, "environment": "- a\n- b"}, {}, ["environment"]),
        ({**AWS, "environment-mode": "append"}, {}, ["environment-mode"]),
        ({**AWS, "dry-run": "yes"}, {}, ["dry-run"]),
        ({**AWS, "wait-timeout": "0"}, {}, ["wait-timeout"]),
        ({**AWS, "source": "missing"}, {}, ["source"]),
        ({**AWS, "source": "../.."}, {}, ["source"]),
        ({**AWS, "package": "dist.zip", "source": "src"}, {}, ["package"]),
        ({**AWS, "package": "nope.zip"}, {}, ["package"]),
        ({**AWS, "resource-group": "rg", "entry-point": "main"}, {}, ["resource-group", "entry-point"]),
        ({**AZURE, "resource-group": ""}, {}, ["resource-group"]),
        ({**AZURE, "subscription-id": ""}, {}, ["subscription-id"]),
        ({**AZURE, "swap": "true"}, {}, ["swap"]),
        ({**AZURE, "deploy-method": "ftp"}, {}, ["deploy-method"]),
        ({**AZURE, "region": "westeurope"}, {}, ["region"]),
        ({**GCP, "region": ""}, {}, ["region"]),
        ({**GCP, "labels": "Bad=x"}, {}, ["labels"]),
        ({**GCP, "labels": "team=Platform"}, {}, ["labels"]),
        ({**GCP, "event-trigger-type": "google.cloud.pubsub.topic.v1.messagePublished"}, {}, ["event-trigger-resource"]),
        ({**GCP, "trigger-http": "true", "event-trigger-type": "t", "event-trigger-resource": "projects/p/topics/t"}, {}, ["trigger-http"]),
        ({**GCP, "min-instances": "5", "max-instances": "2"}, {}, ["min-instances"]),
        ({**GCP, "secrets": "KEY=plaintext"}, {}, ["secrets"]),
        ({**GCP, "environment": "PORT=1"}, {}, ["environment"]),
        ({**GCP, "alias": "live"}, {}, ["alias"]),
    ],
)
def test_problems(ws, inputs, environ, fields):
    inputs = {"source": "src", **inputs} if "package" not in inputs else inputs
    result = load(inputs, ws, environ)
    assert sorted(p.field for p in result.problems) == sorted(fields), result.problems
    if not set(fields) <= set(config.RUN_KEYS):  # a bad run-level input leaves the function valid
        assert result.specs == ()


def test_all_problems_are_reported_together(ws):
    result = load({**AWS, "source": "src", "memory": "1", "timeout": "x", "tracing": "On", "alias": "9"}, ws)
    assert {p.field for p in result.problems} == {"memory", "timeout", "tracing", "alias"}


def test_aws_spec_carries_only_given_fields(ws):
    result = load({**AWS, "source": "src", "memory": "256", "layers": "arn:aws:lambda:eu-west-1:123456789012:layer:x:3"}, ws)
    assert not result.problems
    (spec,) = result.specs
    options = spec.options
    assert isinstance(options, AwsOptions)
    assert options.memory_mb == 256 and options.layers == ("arn:aws:lambda:eu-west-1:123456789012:layer:x:3",)
    assert options.runtime is None and options.handler is None and options.timeout_s is None
    assert spec.environment is None and options.publish is True
    assert spec.source == (ws / "src").resolve()


@pytest.mark.parametrize(
    ("environ", "region"),
    [({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-north-1"}, "us-west-2"), ({"AWS_DEFAULT_REGION": "eu-north-1"}, "eu-north-1")],
)
def test_aws_region_falls_back_to_the_environment(ws, environ, region):
    result = load({"provider": "aws", "function-name": "fn", "source": "src"}, ws, environ)
    assert result.specs[0].options.region == region


@pytest.mark.parametrize(
    "text",
    ["A=1\nB=two=2\n", "A: '1'\nB: two=2\n", "# comment\nA=1\n\nB=two=2"],
)
def test_environment_forms(ws, text):
    result = load({**AWS, "source": "src", "environment": text}, ws)
    assert dict(result.specs[0].environment) == {"A": "1", "B": "two=2"}


def test_secrets_collected_for_masking_even_when_input_is_bad(ws):
    result = load({**AZURE, "source": "src", "azure-access-token": "tok-123456", "environment": "K=v4lue\nbroken line"}, ws)
    assert "tok-123456" in result.secrets and "v4lue" in result.secrets
    assert result.problems


def test_build_environment_values_are_masked_too(ws):
    result = load({**GCP, "source": "src", "build-environment": "PIP_INDEX_URL=https://user:pa55word@pypi.example"}, ws)
    assert "https://user:pa55word@pypi.example" in result.secrets


def test_gcp_memory_and_defaults(ws):
    result = load({**GCP, "source": "src", "memory": "512"}, ws)
    options = result.specs[0].options
    assert isinstance(options, GcpOptions)
    assert options.memory == "512Mi" and options.ingress is None and options.timeout_s is None


def test_azure_endpoints_from_environment(ws):
    env = {"FAAS_AZURE_ARM_ENDPOINT": "http://127.0.0.1:9/arm/", "FAAS_AZURE_SCM_ENDPOINT": "http://127.0.0.1:9/scm"}
    options = load({**AZURE, "source": "src"}, ws, env).specs[0].options
    assert isinstance(options, AzureOptions)
    assert options.arm_endpoint == "http://127.0.0.1:9/arm" and options.scm_endpoint == "http://127.0.0.1:9/scm"


def test_config_file_list_with_step_overrides(ws):
    (ws / "faas.yml").write_text(
        "provider: aws\nregion: eu-west-1\nsource: src\nmemory: 512\nfunctions:\n"
        "  - function-name: one\n  - function-name: two\n    memory: 1024\n    publish: false\n"
    )
    result = load({"config": "faas.yml", "timeout": "30"}, ws)
    assert not result.problems
    one, two = result.specs
    assert (one.name, one.options.memory_mb, one.options.timeout_s, one.options.publish) == ("one", 512, 30, True)
    assert (two.name, two.options.memory_mb, two.options.timeout_s, two.options.publish) == ("two", 1024, 30, False)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("provider: aws\nfunctoin-name: x\n", "unknown key 'functoin-name'"),
        ("- a\n- b\n", "must hold a mapping"),
        ("provider: aws\nfunctions: []\n", "non-empty list"),
        ("provider: [aws\n", "not readable YAML"),
    ],
)
def test_config_file_errors(ws, content, fragment):
    (ws / "faas.yml").write_text(content)
    result = load({"config": "faas.yml", "region": "eu-west-1"}, ws)
    assert any(fragment in p.message for p in result.problems), result.problems


def test_every_action_input_is_known_to_config():
    common = {"provider", "function-name", "source", "package", "package-out", "config", "dry-run", "environment",
              "environment-mode", "wait-timeout", *config.FILE_RUN_KEYS,
              # AWS and Azure; on GCP an error of its own (Cloud Build installs them there)
              "dependencies", "dependencies-platform", "dependencies-cache"}
    assert set(config.input_defaults()) == common | set(config.APPLIES_TO)
