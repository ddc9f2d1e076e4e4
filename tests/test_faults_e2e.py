"""End to end (entrypoint.py as the runner runs it): an unreachable endpoint ends within
wait-timeout on every provider, with exit 1 and one `::error` naming it, whether the connection
is refused or accepted and never answered; and a soak of deploys through a proxy that fails a
fifth of the requests at random (issue 10).

Every run has its own deadline (the harness's subprocess timeout), far above wait-timeout: a run
that overstayed its wait-timeout by a minute would fail the test instead of hanging it."""

from __future__ import annotations

import pytest

from faas_action import package
from tests.conftest import AWS_TEST_ENV, boto_client
from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, TOKEN as AZURE_TOKEN
from tests.fakes.network import Blackhole, closed_port_url

pytestmark = pytest.mark.timeout(240)

RUN_DEADLINE_S = 60  # per run; wait-timeout is 3 s


@pytest.fixture(params=["refused", "blackhole"])
def unreachable(request):
    """An endpoint that refuses connections, or one that accepts them and never answers."""
    if request.param == "refused":
        yield closed_port_url()
        return
    with Blackhole() as hole:
        yield hole.url


def assert_one_clear_error(result, endpoint: str) -> None:
    text = result.stdout + result.stderr
    assert result.code == 1, text
    assert "Traceback" not in text, text
    assert len(result.errors) == 1, result.errors
    assert endpoint.split("//")[1] in result.errors[0], result.errors[0]


def test_aws_unreachable_endpoint(action, workspace, unreachable):
    (workspace / "app").mkdir()
    (workspace / "app" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    inputs = {"provider": "aws", "function-name": "fn-unreachable", "source": "app", "wait-timeout": "3"}
    result = action.run(inputs, env={**AWS_TEST_ENV, "AWS_ENDPOINT_URL": unreachable}, timeout=RUN_DEADLINE_S)
    assert_one_clear_error(result, unreachable)


def test_azure_unreachable_endpoint(action, workspace, unreachable):
    (workspace / "host.json").write_text('{"version": "2.0"}')
    inputs = {
        "provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP, "subscription-id": SUBSCRIPTION,
        "azure-access-token": AZURE_TOKEN, "wait-timeout": "3",
    }
    env = {"FAAS_AZURE_ARM_ENDPOINT": unreachable + "/arm", "FAAS_AZURE_SCM_ENDPOINT": unreachable + "/kudu"}
    result = action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
    assert_one_clear_error(result, unreachable)


def test_gcp_unreachable_endpoint(action, workspace, unreachable):
    (workspace / "main.py").write_text("def hello(request):\n    return 'hello'\n")
    inputs = {
        "provider": "gcp", "function-name": "hello", "region": "us-central1", "project": "proj-1",
        "runtime": "python312", "gcp-access-token": "ya29.unreachable-token-0123456789", "wait-timeout": "3",
    }
    result = action.run(inputs, env={"FAAS_GCP_ENDPOINT": unreachable, "NO_GCE_CHECK": "true"}, timeout=RUN_DEADLINE_S)
    assert_one_clear_error(result, unreachable)


# -- soak: a fifth of the requests fail at random --------------------------------------------------

SOAK_RUNS = 5  # more, faster, in-process: test_aws_faults.py's soak


def test_aws_soak_with_random_faults(aws_action, workspace, function_name, aws_role, lambda_proxy, moto_server, tmp_path):
    """Each run either deploys (outputs that match what Lambda serves) or exits 1 with one clear
    error; none crashes, and no version ever carries code other than the run's own package."""
    app = workspace / "app"
    app.mkdir()
    moto = boto_client("lambda", moto_server)
    outcomes = []
    published: dict[str, str] = {}  # version -> the CodeSha256 of the run that published it
    for run in range(SOAK_RUNS):
        (app / "app.py").write_text(f"def handler(e, c):\n    return {run // 2}\n")  # new code every other run
        inputs = {
            "provider": "aws", "function-name": function_name, "source": "app", "alias": "live", "wait-timeout": "20",
            "runtime": "python3.12", "handler": "app.handler", "role": aws_role,
        }
        lambda_proxy.chaos(rate=0.2, seed=run)
        result = aws_action.run(inputs, timeout=RUN_DEADLINE_S)
        lambda_proxy.chaos(rate=0.0, seed=run)
        text = result.stdout + result.stderr
        assert result.code in (0, 1), text
        assert "Traceback" not in text, text
        if result.code == 1:
            assert len(result.errors) == 1, text
            outcomes.append("failed")
            continue
        assert result.errors == [], text
        outcomes.append("deployed")
        expected = package.build(app, workspace, out_dir=tmp_path).sha256
        assert result.outputs["code-sha256"] == expected
        version = result.outputs["version"]
        served = moto.get_function(FunctionName=function_name, Qualifier="live")["Configuration"]
        assert (served["Version"], served["CodeSha256"]) == (version, expected), text
        published.setdefault(version, expected)
    for version in moto.list_versions_by_function(FunctionName=function_name)["Versions"]:
        if version["Version"] in published:
            assert version["CodeSha256"] == published[version["Version"]]
    assert len(lambda_proxy.injected) >= SOAK_RUNS, "the proxy injected too few faults to mean anything"
    assert outcomes.count("deployed") >= SOAK_RUNS - 1, outcomes
