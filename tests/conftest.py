"""Shared fixtures: the runner harness (runs entrypoint.py as the runner would) and local servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def action_inputs() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]


def parse_github_output(text: str) -> dict[str, str]:
    """Parse `$GITHUB_OUTPUT` exactly as the runner does: NAME=VALUE or NAME<<DELIM heredocs."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line.split("=", 1)
            outputs[name] = value
            continue
        if heredoc < 0:
            raise AssertionError(f"Invalid format '{line}'")
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body = []
        while True:
            if index >= len(lines):
                raise AssertionError(f"Matching delimiter not found '{delimiter}'")
            current = lines[index]
            index += 1
            if current == delimiter:
                break
            body.append(current)
        outputs[name] = "\n".join(body)
    return outputs


@dataclass
class ActionResult:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.startswith("::error")]


@dataclass
class ActionRunner:
    """Runs entrypoint.py in a subprocess with the environment a runner would give it."""

    workspace: Path
    tmp: Path
    base_env: dict[str, str] = field(default_factory=dict)

    def env_for(self, inputs: dict[str, str], env: dict[str, str] | None = None) -> dict[str, str]:
        declared = action_inputs()
        unknown = set(inputs) - set(declared)
        assert not unknown, f"test uses undeclared inputs: {unknown}"
        run_dir = self.tmp / f"run-{uuid.uuid4().hex[:8]}"
        (run_dir / "file_commands").mkdir(parents=True)
        (run_dir / "runner_temp").mkdir()
        output = run_dir / "file_commands" / "set_output"
        summary = run_dir / "file_commands" / "step_summary"
        output.touch()
        summary.touch()
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(run_dir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(run_dir / "runner_temp"),
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_RUN_ID": "42",
            "GITHUB_SERVER_URL": "https://github.com",
        }
        for key in ("PYTHONDONTWRITEBYTECODE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            if key in os.environ:
                environment[key] = os.environ[key]
        for name, decl in declared.items():
            environment["INPUT_" + name.replace(" ", "_").upper()] = str(decl.get("default", ""))
        for name, value in inputs.items():
            environment["INPUT_" + name.replace(" ", "_").upper()] = value
        environment.update(self.base_env)
        environment.update(env or {})
        return environment

    def run(self, inputs: dict[str, str], env: dict[str, str] | None = None, timeout: float = 120) -> ActionResult:
        environment = self.env_for(inputs, env)
        proc = subprocess.run(
            [sys.executable, str(ENTRYPOINT)],
            cwd=self.workspace,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        output_text = Path(environment["GITHUB_OUTPUT"]).read_text()
        summary_text = Path(environment["GITHUB_STEP_SUMMARY"]).read_text()
        return ActionResult(proc.returncode, proc.stdout, proc.stderr, parse_github_output(output_text), summary_text)


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
