"""Shared fixtures: the runner harness (runs entrypoint.py as the runner would) and local servers."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.harness import ActionResult, ActionRunner, action_inputs, free_port, parse_github_output  # noqa: F401


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def action(workspace: Path, tmp_path: Path) -> ActionRunner:
    return ActionRunner(workspace=workspace, tmp=tmp_path)


@pytest.fixture(scope="session")
def moto_server():
    """moto's real HTTP server on 127.0.0.1; yields its base URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # Invoke without Docker (moto then echoes the event), set before any function exists: the
    # setting picks another Lambda backend.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/moto-api/config", data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        method="POST", headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    yield f"http://127.0.0.1:{port}"
    server.stop()


# -- AWS: moto behind the scripted proxy --------------------------------------------------------

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}


@pytest.fixture(scope="session")
def aws_role(moto_server) -> str:
    """An execution role in moto's IAM (moto checks that it exists)."""
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_server, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing-secret-key")
    return iam.create_role(RoleName="faas-test-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


@pytest.fixture
def lambda_proxy(moto_server):
    from tests.fakes.lambda_proxy import LambdaProxy

    proxy = LambdaProxy(moto_server).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def aws_env(lambda_proxy) -> dict[str, str]:
    return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": lambda_proxy.url}


@pytest.fixture
def aws_action(action: ActionRunner, aws_env) -> ActionRunner:
    action.base_env.update(aws_env)
    return action


@pytest.fixture
def function_name(request) -> str:
    """A function name unique to the test (the moto server lives for the whole session)."""
    return "fn-" + uuid.uuid4().hex[:12]


def boto_client(service: str, endpoint: str, **config):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret-key",
        config=Config(**config) if config else None,
    )


@pytest.fixture
def lam(lambda_proxy):
    """A Lambda client through the proxy (what the action sees)."""
    return boto_client("lambda", lambda_proxy.url)


@pytest.fixture
def cloudwatch(moto_server):
    return boto_client("cloudwatch", moto_server)


REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"  # the account's ECR registry in moto


@pytest.fixture
def ecr(moto_server, monkeypatch, function_name):
    """moto's ECR, and moto's Lambda resolving image URIs in it (as Lambda does) rather than
    hashing the URI; yields push(tag, content) -> digest (hex, as Lambda reports CodeSha256)."""
    monkeypatch.setenv("MOTO_LAMBDA_STUB_ECR", "false")  # read by the in-process moto server on each call
    client = boto_client("ecr", moto_server)
    repository = f"repo-{function_name}"
    client.create_repository(repositoryName=repository)

    def push(tag: str, content: str) -> str:
        digest = lambda text: "sha256:" + hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1024, "digest": digest(content + "config")},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4096, "digest": digest(content)}],
        }
        image = client.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]
        return image["imageId"]["imageDigest"].split(":", 1)[1]

    push.uri = f"{REGISTRY}/{repository}"  # type: ignore[attr-defined]
    return push
