"""Credential sources the action's container cannot see, and a missing GCP project, are reported
before any call, with every other problem, one `::error` each (issue 10, items 5 and 16).

On self-hosted and Kubernetes runners the job's environment may name files that live on the
runner (a web identity token, ~/.aws/credentials, a projected Azure token) or, in a job with
`container:`, under /__w/ where the runner does not rewrite the path for the action."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faas_action.models import AwsOptions, AzureOptions, FunctionSpec, GcpOptions, GitHubContext
from faas_action.providers import aws, azure, gcp
from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, FakeAzure
from tests.fakes.gcp_fake import gcp_fake  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)

CONTAINER = "a container action sees only the workspace and the job's environment"
NO_KEYS = {"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials"}
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-key"}
EKS_TOKEN = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"


def write_app(workspace: Path) -> None:
    (workspace / "app").mkdir(exist_ok=True)
    (workspace / "app" / "app.py").write_text("def handler(e, c):\n    return 1\n")


def assert_errors(result, *fragments: str) -> list[str]:
    """Exit 1, no traceback, exactly one ::error per fragment; returns them in the fragments' order."""
    text = result.stdout + result.stderr
    assert result.code == 1, text
    assert "Traceback" not in text
    assert len(result.errors) == len(fragments), result.errors
    found = []
    for fragment in fragments:
        matching = [error for error in result.errors if fragment in error]
        assert len(matching) == 1, (fragment, result.errors)
        found.extend(matching)
    return found


def empty_source(workspace: Path) -> str:
    """A source with nothing to package: a packaging problem, found with the others."""
    (workspace / "empty").mkdir(exist_ok=True)
    return "empty"


# -- AWS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci", "AWS_WEB_IDENTITY_TOKEN_FILE": EKS_TOKEN}, f"AWS_WEB_IDENTITY_TOKEN_FILE names {EKS_TOKEN}"),
        ({"AWS_PROFILE": "ci", **KEYS}, "AWS_PROFILE names profile 'ci'"),
        ({"AWS_SHARED_CREDENTIALS_FILE": "/home/runner/.aws/credentials"}, "AWS_SHARED_CREDENTIALS_FILE names /home/runner/.aws/credentials"),
    ],
    ids=["web-identity-token-file", "profile", "shared-credentials-file"],
)
def test_aws_credentials_the_container_cannot_see(aws_action, workspace, lambda_proxy, env, fragment):
    inputs = {"provider": "aws", "function-name": "fn-creds", "source": empty_source(workspace)}
    result = aws_action.run(inputs, env={**NO_KEYS, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", **env})
    _, error = assert_errors(result, "nothing to package", fragment)
    assert CONTAINER in error and "configure-aws-credentials" in error
    assert lambda_proxy.requests == []


def aws_spec() -> FunctionSpec:
    return FunctionSpec(provider="aws", name="fn", source=Path("."), package=None, options=AwsOptions(region="us-east-1"),
                        github=GitHubContext())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({**KEYS, "AWS_SHARED_CREDENTIALS_FILE": "/gone", "AWS_WEB_IDENTITY_TOKEN_FILE": "/gone", "AWS_ROLE_ARN": "r"}, 0),
        ({"AWS_WEB_IDENTITY_TOKEN_FILE": "/gone"}, 0),  # without AWS_ROLE_ARN botocore ignores it
        ({"AWS_SHARED_CREDENTIALS_FILE": "/gone", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials"}, 0),
        ({"AWS_ROLE_ARN": "r", "AWS_WEB_IDENTITY_TOKEN_FILE": "{token}"}, 0),
        ({"AWS_PROFILE": "ci", "AWS_SHARED_CREDENTIALS_FILE": "{credentials}"}, 0),
        ({"AWS_PROFILE": "other", "AWS_SHARED_CREDENTIALS_FILE": "{credentials}"}, 1),
        ({"AWS_PROFILE": "ci", "AWS_CONFIG_FILE": "{config}"}, 0),
        ({}, 0),  # nothing named: botocore's own 'no credentials' error, when connecting, says the rest
    ],
)
def test_aws_environment_rules(tmp_path, env, expected):
    (tmp_path / "token").write_text("jwt")
    (tmp_path / "credentials").write_text("[ci]\naws_access_key_id = a\naws_secret_access_key = b\n")
    (tmp_path / "config").write_text("[profile ci]\nregion = us-east-1\n")
    paths = {"token": tmp_path / "token", "credentials": tmp_path / "credentials", "config": tmp_path / "config"}
    environ = {"HOME": str(tmp_path / "home"), **{k: v.format(**paths) for k, v in env.items()}}
    assert len(aws.check_environment(aws_spec(), environ)) == expected


# -- Azure ----------------------------------------------------------------------------------------


def test_azure_federated_token_file_the_container_cannot_see(action, workspace):
    (workspace / "host.json").write_text('{"version": "2.0"}')
    inputs = {
        "provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP, "subscription-id": SUBSCRIPTION,
        "client-id": "11111111-2222-3333-4444-555555555555", "tenant-id": "99999999-8888-7777-6666-555555555555",
    }
    token_file = "/var/run/secrets/azure/tokens/azure-identity-token"
    with FakeAzure() as fake:
        result = action.run(inputs, env={**fake.env(), "AZURE_FEDERATED_TOKEN_FILE": token_file})
        assert fake.requests == []
    assert_errors(result, f"AZURE_FEDERATED_TOKEN_FILE names {token_file}")
    assert CONTAINER in result.errors[0] and "id-token: write" in result.errors[0]


def test_azure_token_file_is_not_checked_when_another_credential_comes_first(tmp_path):
    options = AzureOptions(resource_group=RESOURCE_GROUP, subscription_id=SUBSCRIPTION, access_token="token")
    spec = FunctionSpec(provider="azure", name="app", source=Path("."), package=None, options=options, github=GitHubContext())
    assert azure.check_environment(spec, {"AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "gone")}) == []
    spec = FunctionSpec(provider="azure", name="app", source=Path("."), package=None, github=GitHubContext(),
                        options=AzureOptions(resource_group=RESOURCE_GROUP, subscription_id=SUBSCRIPTION))
    assert len(azure.check_environment(spec, {"AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "gone")})) == 1


# -- GCP ------------------------------------------------------------------------------------------

GCP_INPUTS = {"provider": "gcp", "function-name": "hello", "region": "us-central1", "runtime": "python312", "source": "."}


@pytest.fixture
def gcp_workspace(workspace: Path) -> Path:
    (workspace / "main.py").write_text("def hello(request):\n    return 'hello'\n")
    return workspace


def test_gcp_credentials_file_outside_the_workspace(action, gcp_workspace, gcp_fake):
    path = "/__w/app/app/gha-creds-0123456789abcdef.json"  # a container job's path, not rewritten for the action
    env = {"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true", "GOOGLE_APPLICATION_CREDENTIALS": path,
           "GOOGLE_CLOUD_PROJECT": "proj-1", "GITHUB_WORKSPACE": str(gcp_workspace)}
    result = action.run({**GCP_INPUTS, "source": empty_source(gcp_workspace)}, env=env)
    _, error = assert_errors(result, "nothing to package", f"GOOGLE_APPLICATION_CREDENTIALS names {path}, outside the workspace")
    assert CONTAINER in error and "gcp-access-token" in error
    assert gcp_fake.requests == []


def test_gcp_missing_project_comes_out_with_the_other_problems(action, gcp_workspace, gcp_fake):
    env = {"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}
    inputs = {**GCP_INPUTS, "source": empty_source(gcp_workspace), "gcp-access-token": "ya29.token-0123456789abcdef"}
    result = action.run(inputs, env=env)
    assert_errors(result, "nothing to package", "no GCP project")
    assert gcp_fake.requests == []


def test_one_environment_problem_is_one_error_however_many_functions_share_it(aws_action, workspace, lambda_proxy):
    (workspace / "app").mkdir()
    (workspace / "app" / "app.py").write_text("x = 1\n")
    (workspace / "faas.yml").write_text(
        "provider: aws\nsource: app\nfunctions:\n  - function-name: one\n  - function-name: two\n  - function-name: three\n"
    )
    result = aws_action.run({"config": "faas.yml"}, env={**NO_KEYS, "AWS_PROFILE": "ci", **KEYS})
    assert result.code == 1
    assert len(result.errors) == 1 and "AWS_PROFILE names profile 'ci'" in result.errors[0], result.errors
    assert lambda_proxy.requests == []


# -- a file that is there but is not a regular file ---------------------------------------------------


def test_a_credentials_file_that_is_a_fifo_or_a_directory_is_called_so_not_unseen(tmp_path):
    """The file is there (a FIFO would block its reader): the message says what it is, not that
    the container cannot see it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    azure_spec = FunctionSpec(provider="azure", name="app", source=Path("."), package=None, github=GitHubContext(),
                              options=AzureOptions(resource_group=RESOURCE_GROUP, subscription_id=SUBSCRIPTION))
    gcp_spec = FunctionSpec(provider="gcp", name="fn", source=Path("."), package=None, github=GitHubContext(),
                            options=GcpOptions(project="proj-1", region="us-central1"))
    for path, kind in ((fifo, "a FIFO (named pipe), not a regular file"), (tmp_path, "a directory, not a regular file")):
        checks = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", aws.check_environment(aws_spec(), {"AWS_ROLE_ARN": "r", "AWS_WEB_IDENTITY_TOKEN_FILE": str(path),
                                                                                "HOME": str(tmp_path / "home")})),
            ("AWS_SHARED_CREDENTIALS_FILE", aws.check_environment(aws_spec(), {"AWS_SHARED_CREDENTIALS_FILE": str(path),
                                                                                "HOME": str(tmp_path / "home")})),
            ("AZURE_FEDERATED_TOKEN_FILE", azure.check_environment(azure_spec, {"AZURE_FEDERATED_TOKEN_FILE": str(path)})),
            ("GOOGLE_APPLICATION_CREDENTIALS", gcp.check_environment(gcp_spec, {"GOOGLE_APPLICATION_CREDENTIALS": str(path),
                                                                                 "GITHUB_WORKSPACE": str(tmp_path)})),
        ]
        for variable, problems in checks:
            assert len(problems) == 1, (variable, problems)
            message = problems[0].message
            assert f"{variable} names {path}, which is {kind}" in message, message
            assert "cannot see" not in message and CONTAINER not in message, message
    profile = aws.check_environment(aws_spec(), {"AWS_PROFILE": "ci", "AWS_SHARED_CREDENTIALS_FILE": str(fifo), **KEYS,
                                                 "HOME": str(tmp_path / "home")})
    assert f"{fifo} (a FIFO (named pipe), not a regular file)" in profile[0].message
