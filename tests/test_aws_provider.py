"""The Lambda provider in-process with an injected clock: retries, deadlines and publish guards.

boto3 talks to moto over HTTP through the scripted proxy; the clock is fake, so backoff and
deadlines are exercised without real sleeping.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from faas_action import package
from faas_action.errors import DeadlineError, ProviderError
from faas_action.models import AwsOptions, FunctionSpec, GitHubContext
from faas_action.providers.aws import LambdaProvider
from faas_action.providers.base import ListLog, RunContext
from tests.conftest import boto_client
from tests.fakes.clock import FakeClock

CONFLICT = "The operation cannot be performed at this time. An update is in progress for resource: arn"


def make_provider(proxy, clock: FakeClock) -> tuple[LambdaProvider, ListLog]:
    # botocore's own retries are off, as connect() sets them: every fault reaches our bounded loop.
    client = boto_client("lambda", proxy.url, retries={"total_max_attempts": 1})
    log = ListLog()
    ctx = RunContext(log=log, clock=clock)
    return LambdaProvider(client, lambda: boto_client("s3", proxy.url, retries={"total_max_attempts": 1}), ctx), log


def spec_for(tmp_path: Path, name: str, role: str | None = None, wait: float = 60, **options) -> tuple[FunctionSpec, object]:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "app.py").write_text(f"def handler(e, c):\n    return {options.pop('body', 1)!r}\n")
    artifact = package.build(source, tmp_path / "workspace-that-does-not-contain-tmp", out_dir=tmp_path)
    aws = AwsOptions(region="us-east-1", role=role, runtime="python3.12" if role else None,
                     handler="app.handler" if role else None, **options)
    spec = FunctionSpec(provider="aws", name=name, source=source, package=None, options=aws,
                        wait_timeout_s=wait, github=GitHubContext(sha="abc123", ref="refs/heads/main"))
    return spec, artifact


def deploy(provider, spec, artifact):
    return provider.apply(provider.plan(spec, artifact), spec, artifact)


@pytest.fixture
def created(lambda_proxy, aws_role, function_name, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role)
    deploy(provider, spec, artifact)
    lambda_proxy.requests.clear()
    return function_name


def test_conflicts_are_retried_with_backoff(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("PUT", rf"/functions/{created}/code$", 409, "ResourceConflictException", CONFLICT, times=3)
    spec, artifact = spec_for(tmp_path, created, body=2)
    result = deploy(provider, spec, artifact)
    assert result.changed and result.version == "2"
    assert len(lambda_proxy.calls("PUT", rf"/functions/{created}/code$")) == 4
    assert len(clock.sleeps) == 3 and all(0 < s <= 15.05 for s in clock.sleeps)
    assert sum("ResourceConflictException, retrying" in line for line in log.lines) == 3


def test_throttling_is_retried(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("POST", rf"/functions/{created}/versions$", 429, "TooManyRequestsException", "Rate exceeded", times=2)
    spec, artifact = spec_for(tmp_path, created, body=3)
    assert deploy(provider, spec, artifact).version == "2"
    assert len(clock.sleeps) == 2


def test_conflicts_stop_at_the_deadline(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("PUT", rf"/functions/{created}/code$", 409, "ResourceConflictException", CONFLICT, times=10_000)
    spec, artifact = spec_for(tmp_path, created, wait=45, body=4)
    start = clock.now()
    with pytest.raises(DeadlineError, match="within 45 s"):
        deploy(provider, spec, artifact)
    assert clock.now() - start == pytest.approx(45)
    assert not lambda_proxy.calls("POST", rf"/functions/{created}/versions$")


def test_plan_waits_for_an_update_already_in_progress(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.queue_state(created, 4, LastUpdateStatus="InProgress")
    spec, artifact = spec_for(tmp_path, created, body=5)
    plan = provider.plan(spec, artifact)
    assert plan.action == "update"
    assert clock.sleeps == [1, 1, 1]  # function_updated_v2's own delay, on our clock
    assert any("update in progress" in line for line in log.lines)


def test_function_changed_between_plan_and_apply_is_not_published(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, body=6)
    plan = provider.plan(spec, artifact)
    lambda_proxy.touch(created)  # someone else deploys after our plan
    with pytest.raises(ProviderError, match="PreconditionFailedException"):
        provider.apply(plan, spec, artifact)
    assert not lambda_proxy.calls("POST", rf"/functions/{created}/versions$")


def test_publish_refuses_code_that_is_not_ours(lambda_proxy, moto_server, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, body=7)
    theirs = io.BytesIO()
    with zipfile.ZipFile(theirs, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 'theirs'\n")
    plan = provider.plan(spec, artifact)
    original = lambda_proxy._check_guards

    def another_deploy_wins_the_race(name, rest, body):
        if rest == "/versions":  # replaces $LATEST's code between our update and our publish
            boto_client("lambda", moto_server).update_function_code(FunctionName=created, ZipFile=theirs.getvalue())
        return original(name, rest, body)

    lambda_proxy._check_guards = another_deploy_wins_the_race
    with pytest.raises(ProviderError, match="refused to publish"):
        provider.apply(plan, spec, artifact)
    versions = boto_client("lambda", moto_server).list_versions_by_function(FunctionName=created)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_no_op_publishes_nothing_and_reports_the_matching_version(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created)
    before = len(lambda_proxy.writes())
    plan = provider.plan(spec, artifact)
    assert plan.action == "none" and not plan.changed
    result = provider.apply(plan, spec, artifact)
    assert (result.changed, result.version) == (False, "1")
    assert result.outputs["version-id"].endswith(f":{created}:1")
    assert len(lambda_proxy.writes()) == before


def test_publish_false_reports_latest(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, body=8, publish=False)
    result = deploy(provider, spec, artifact)
    assert result.version == "$LATEST" and result.outputs["version-id"] == ""
    assert not lambda_proxy.calls("POST", rf"/functions/{created}/versions$")


def test_no_op_with_alias_reads_in_one_round_and_lists_no_versions(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live")
    deploy(provider, spec, artifact)  # creates the alias on version 1
    lambda_proxy.requests.clear()
    plan = provider.plan(spec, artifact)
    result = provider.apply(plan, spec, artifact)
    assert plan.action == "none" and (result.changed, result.version) == (False, "1")
    assert not lambda_proxy.writes()
    assert not lambda_proxy.calls("GET", rf"/functions/{created}/versions"), "the alias's version answered: no listing"
    assert lambda_proxy.calls("GET", rf"/functions/{created}\?Qualifier=live$")


def test_a_version_with_the_same_code_but_an_older_configuration_is_not_reused(lambda_proxy, moto_server, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live")
    deploy(provider, spec, artifact)  # alias live -> version 1
    # Someone changes $LATEST's configuration in the console; the code stays the same.
    boto_client("lambda", moto_server).update_function_configuration(FunctionName=created, MemorySize=1024)
    plan = provider.plan(spec, artifact)
    assert plan.action == "update" and plan.publish, plan.steps
    result = provider.apply(plan, spec, artifact)
    assert result.version == "2"
    served = boto_client("lambda", moto_server).get_function(FunctionName=created, Qualifier="live")["Configuration"]
    assert (served["Version"], served["MemorySize"]) == ("2", 1024)
    # Now the alias serves $LATEST exactly: the next run changes nothing.
    assert provider.plan(spec, artifact).action == "none"


def test_alias_moves_to_the_newest_version_that_serves_the_code(lambda_proxy, moto_server, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live")
    deploy(provider, spec, artifact)
    moto = boto_client("lambda", moto_server)
    moto.update_alias(FunctionName=created, Name="live", FunctionVersion="$LATEST")  # pointed away by hand
    lambda_proxy.requests.clear()
    result = deploy(provider, spec, artifact)
    assert (result.changed, result.version) == (True, "1")
    assert not lambda_proxy.calls("POST", rf"/functions/{created}/versions$"), "version 1 already serves this code"
    assert moto.get_alias(FunctionName=created, Name="live")["FunctionVersion"] == "1"


def test_model_loader_checks_one_folder_not_every_service(monkeypatch):
    import botocore.exceptions
    import botocore.loaders
    import botocore.session

    from faas_action.providers import aws

    session = botocore.session.get_session()
    loader = aws._DataLoader.like(botocore.loaders.create_loader(session.get_config_variable("data_path")))
    session.register_component("data_loader", loader)
    listed: list[str] = []
    real_listdir = os.listdir
    monkeypatch.setattr(botocore.loaders.os, "listdir", lambda path: listed.append(path) or real_listdir(path))
    session.create_client("lambda", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    assert len(listed) < 10, f"the model loader listed {len(listed)} folders"
    names = loader.list_available_services("service-2")
    assert "lambda" in names and "no-such-service" not in names
    with pytest.raises(botocore.exceptions.UnknownServiceError, match="lambda"):  # the message lists them all
        session.create_client("no-such-service", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
