"""Faults on the way to Lambda (issue 10), in-process on a fake clock through the scripted proxy:
network errors and server errors are retried like throttling within wait-timeout, an unreachable
endpoint ends with one clear error naming it, and a mutation whose reply was lost is told apart
from a real conflict (CreateFunction, CreateAlias, UpdateFunctionCode)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import zipfile

import pytest

from faas_action import package
from faas_action.errors import ActionError, DeadlineError, ProviderError
from faas_action.models import AwsOptions, FunctionSpec, GitHubContext
from faas_action.providers.aws import DIRECT_UPLOAD_LIMIT, LambdaProvider
from faas_action.providers.base import Deadline, ListLog, RunContext
from tests.conftest import boto_client
from tests.fakes.clock import FakeClock
from tests.fakes.network import closed_port_url
from tests.test_aws_provider import CONFLICT, created, deploy, make_provider, spec_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)

CREATE = r"/2015-03-31/functions$"


def code_of(moto, name: str, qualifier: str | None = None) -> str:
    extra = {"Qualifier": qualifier} if qualifier else {}
    return moto.get_function(FunctionName=name, **extra)["Configuration"]["CodeSha256"]


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def other_code() -> bytes:
    theirs = io.BytesIO()
    with zipfile.ZipFile(theirs, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 'theirs'\n")
    return theirs.getvalue()


# -- network and server errors: retried within the deadline -----------------------------------------


def test_connection_resets_are_retried_in_plan_apply_and_waits(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.reset_before("GET", rf"/functions/{created}$", times=2)  # plan's read (on its own thread), then a wait's poll
    lambda_proxy.reset_before("PUT", rf"/functions/{created}/code$", times=2)
    lambda_proxy.reset_before("GET", rf"/functions/{created}/versions", times=1)
    spec, artifact = spec_for(tmp_path, created, body=2)
    result = deploy(provider, spec, artifact)
    assert (result.changed, result.version) == (True, "2")
    assert len(lambda_proxy.calls("PUT", rf"/functions/{created}/code$")) == 3
    assert sum("ConnectionClosedError, retrying" in line for line in log.lines) >= 4
    assert code_of(boto_client("lambda", lambda_proxy.url), created, "2") == artifact.sha256


def test_server_errors_are_retried(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("POST", rf"/functions/{created}/versions$", 500, "ServiceException", "Internal error", times=2)
    lambda_proxy.fail("GET", rf"/functions/{created}/url", 503, "ServiceUnavailableException", times=1)
    spec, artifact = spec_for(tmp_path, created, body=3)
    assert deploy(provider, spec, artifact).version == "2"
    assert len(lambda_proxy.calls("POST", rf"/functions/{created}/versions$")) == 3
    assert sum("ServiceException, retrying" in line for line in log.lines) == 2


def test_server_errors_without_end_stop_at_the_deadline(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("PUT", rf"/functions/{created}/code$", 500, "ServiceException", "Internal error", times=10_000)
    spec, artifact = spec_for(tmp_path, created, wait=40, body=4)
    start = clock.now()
    with pytest.raises(DeadlineError, match=r"within 40 s: ServiceException: Internal error"):
        deploy(provider, spec, artifact)
    assert clock.now() - start == pytest.approx(40)


def test_a_reply_slower_than_the_deadline_allows_is_cut_short_and_asked_again(lambda_proxy, created, tmp_path):
    clock = FakeClock()  # it stands still while the request waits: the cut comes from the read timeout
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.slow("GET", rf"/functions/{created}$", seconds=4)
    spec, artifact = spec_for(tmp_path, created, wait=2, body=10)
    assert provider.plan(spec, artifact).action == "update"
    assert any("ReadTimeoutError, retrying" in line for line in log.lines)


def test_a_refused_endpoint_is_given_up_on_long_before_wait_timeout(tmp_path, function_name):
    clock, log = FakeClock(), ListLog()
    endpoint = closed_port_url()
    client = boto_client("lambda", endpoint, retries={"total_max_attempts": 1})
    provider = LambdaProvider(client, lambda: None, RunContext(log=log, clock=clock))
    start = clock.now()
    with pytest.raises(ProviderError) as caught:
        provider.calls.get_function(function_name, deadline=Deadline(clock, 900, "reading"))
    error = caught.value
    assert not isinstance(error, DeadlineError)
    assert "connections refused for" in error.message and endpoint in error.message
    assert 30 <= clock.now() - start <= 30 + 15.05
    assert 3 <= len(clock.sleeps) <= 40


def test_a_refused_endpoint_ends_at_a_short_deadline_naming_it(tmp_path, function_name):
    clock = FakeClock()
    endpoint = closed_port_url()
    client = boto_client("lambda", endpoint, retries={"total_max_attempts": 1})
    provider = LambdaProvider(client, lambda: None, RunContext(log=ListLog(), clock=clock))
    spec, artifact = spec_for(tmp_path, function_name, wait=10)
    start = clock.now()
    with pytest.raises(DeadlineError, match=r"within 10 s: EndpointConnectionError") as caught:
        provider.plan(spec, artifact)  # four reads on four threads, each bounded
    assert endpoint in caught.value.message and "AWS_ENDPOINT_URL" in caught.value.hint
    assert clock.now() - start < 900


def test_the_whole_plan_is_bounded_by_one_wait_timeout(lambda_proxy, created, tmp_path):
    """Each read of the plan takes what is left of the plan's own deadline: a read that starts
    late (listing the versions once the parallel reads are done) gets no fresh wait-timeout."""
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("GET", rf"/functions/{created}$", 503, "ServiceUnavailableException", times=3)
    lambda_proxy.fail("GET", rf"/functions/{created}/versions", 503, "ServiceUnavailableException", times=10_000)
    # The deployed code, and an alias that does not exist yet: the plan looks for a version to reuse.
    spec, artifact = spec_for(tmp_path, created, alias="live", wait=30)
    start = clock.now()
    with pytest.raises(DeadlineError, match=rf"reading Lambda function {created} did not finish within 30 s"):
        provider.plan(spec, artifact)
    assert len(lambda_proxy.calls("GET", rf"/functions/{created}$")) == 4, "the function was read, after three 503s"
    assert clock.now() - start <= 30


def test_ecr_describe_images_goes_through_the_bounded_retry_loop(lambda_proxy, moto_server, aws_role, function_name):
    ecr = boto_client("ecr", moto_server)
    repository = f"repo-{function_name}"
    ecr.create_repository(repositoryName=repository)
    layer = "sha256:" + hashlib.sha256(function_name.encode()).hexdigest()
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1024, "digest": layer},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4096, "digest": layer}],
    }
    pushed = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="v1")["image"]["imageId"]["imageDigest"]
    clock, log = FakeClock(), ListLog()
    provider = LambdaProvider(
        boto_client("lambda", lambda_proxy.url, retries={"total_max_attempts": 1}), lambda: None, RunContext(log=log, clock=clock),
        ecr_factory=lambda: boto_client("ecr", lambda_proxy.url, retries={"total_max_attempts": 1}),
    )
    options = AwsOptions(region="us-east-1", role=aws_role, image_uri=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:v1")
    spec = FunctionSpec(provider="aws", name=function_name, source=None, package=None, options=options,
                        wait_timeout_s=60, github=GitHubContext())

    def retried() -> list[str]:
        return [line.split(": ")[1].split(",")[0] for line in log.lines if "from ECR" in line and "retrying" in line]

    lambda_proxy.fail("POST", "DescribeImages", 503, "ServiceUnavailableException", times=1)
    lambda_proxy.reset_before("POST", "DescribeImages", times=2)
    plan = provider.plan(spec, None)
    assert plan.action == "create" and plan.code_sha256_new == pushed.split(":", 1)[1]
    assert retried() == ["ServiceUnavailableException", "ConnectionClosedError", "ConnectionClosedError"], log.lines

    log.lines.clear()
    lambda_proxy.slow("POST", "DescribeImages", seconds=4)  # cut at what is left of a 2 s deadline, then asked again
    assert provider.plan(dataclasses.replace(spec, wait_timeout_s=2), None).code_sha256_new == pushed.split(":", 1)[1]
    assert retried() == ["ReadTimeoutError"], log.lines


# -- a reply lost after the service acted --------------------------------------------------------


def test_create_whose_reply_was_lost_carries_on_to_publish_and_alias(lambda_proxy, aws_role, function_name, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.reset_after("POST", CREATE)
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role, alias="live")
    result = deploy(provider, spec, artifact)
    assert (result.changed, result.version) == (True, "1")
    assert len(lambda_proxy.calls("POST", CREATE)) == 2
    assert any("reply was lost" in line for line in log.lines)
    moto = boto_client("lambda", lambda_proxy.url)
    assert moto.get_alias(FunctionName=function_name, Name="live")["FunctionVersion"] == "1"
    assert code_of(moto, function_name, "1") == artifact.sha256


def test_a_real_name_clash_on_create_fails_at_once(lambda_proxy, moto_server, aws_role, function_name, tmp_path):
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role)
    plan = provider.plan(spec, artifact)
    assert plan.action == "create"
    boto_client("lambda", moto_server).create_function(  # someone else, after our plan
        FunctionName=function_name, Role=aws_role, Runtime="python3.12", Handler="app.handler", Code={"ZipFile": other_code()}
    )
    with pytest.raises(ProviderError, match="already exists") as caught:
        provider.apply(plan, spec, artifact)
    assert not isinstance(caught.value, DeadlineError)
    assert clock.sleeps == []
    assert len(lambda_proxy.calls("POST", CREATE)) == 1
    assert not lambda_proxy.calls("POST", rf"/functions/{function_name}/versions$")


def test_code_update_whose_reply_was_lost_is_published(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.reset_after("PUT", rf"/functions/{created}/code$")
    spec, artifact = spec_for(tmp_path, created, body=5)
    result = deploy(provider, spec, artifact)
    assert result.version == "2"
    assert code_of(boto_client("lambda", lambda_proxy.url), created, "2") == artifact.sha256
    assert any("reply was lost" in line for line in log.lines)


def test_code_changed_by_someone_else_is_still_refused(lambda_proxy, moto_server, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, body=6)
    plan = provider.plan(spec, artifact)
    boto_client("lambda", moto_server).update_function_code(FunctionName=created, ZipFile=other_code())
    lambda_proxy.touch(created)
    with pytest.raises(ProviderError, match="PreconditionFailedException"):
        provider.apply(plan, spec, artifact)
    assert not lambda_proxy.calls("POST", rf"/functions/{created}/versions$")


# -- CreateAlias: 'update in progress' or 'alias exists' ------------------------------------------


def test_create_alias_is_retried_while_an_update_is_in_progress(lambda_proxy, created, tmp_path):
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    lambda_proxy.fail("POST", rf"/functions/{created}/aliases$", 409, "ResourceConflictException", CONFLICT, times=2)
    spec, artifact = spec_for(tmp_path, created, body=7, alias="live")
    assert deploy(provider, spec, artifact).version == "2"
    assert len(lambda_proxy.calls("POST", rf"/functions/{created}/aliases$")) == 3
    assert not lambda_proxy.calls("PUT", rf"/functions/{created}/aliases/live$"), "no alias existed: nothing to update"
    assert boto_client("lambda", lambda_proxy.url).get_alias(FunctionName=created, Name="live")["FunctionVersion"] == "2"


def test_create_alias_whose_reply_was_lost(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    lambda_proxy.reset_after("POST", rf"/functions/{created}/aliases$")
    spec, artifact = spec_for(tmp_path, created, body=8, alias="live")
    assert deploy(provider, spec, artifact).version == "2"
    assert not lambda_proxy.calls("PUT", rf"/functions/{created}/aliases/live$")
    assert boto_client("lambda", lambda_proxy.url).get_alias(FunctionName=created, Name="live")["FunctionVersion"] == "2"


def test_alias_created_by_someone_else_after_the_plan_is_moved(lambda_proxy, moto_server, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, body=9, alias="live")
    plan = provider.plan(spec, artifact)
    boto_client("lambda", moto_server).create_alias(FunctionName=created, Name="live", FunctionVersion="1")
    assert provider.apply(plan, spec, artifact).version == "2"
    assert len(lambda_proxy.calls("PUT", rf"/functions/{created}/aliases/live$")) == 1
    assert boto_client("lambda", moto_server).get_alias(FunctionName=created, Name="live")["FunctionVersion"] == "2"



# -- S3: the package of a big function ------------------------------------------------------------


def test_s3_upload_is_retried_from_the_start_of_the_file(lambda_proxy, moto_server, aws_role, function_name, tmp_path):
    bucket = "faas-" + function_name
    boto_client("s3", moto_server).create_bucket(Bucket=bucket)
    source = tmp_path / "big"
    source.mkdir()
    (source / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (source / "blob.bin").write_bytes(os.urandom(DIRECT_UPLOAD_LIMIT + 1024))  # incompressible: over 50 MB zipped
    artifact = package.build(source, tmp_path / "ws", out_dir=tmp_path)
    options = AwsOptions(region="us-east-1", role=aws_role, runtime="python3.12", handler="app.handler", s3_bucket=bucket)
    spec = FunctionSpec(provider="aws", name=function_name, source=source, package=None, options=options,
                        wait_timeout_s=120, github=GitHubContext())
    lambda_proxy.reset_before("HEAD", rf"/{bucket}/")
    lambda_proxy.reset_after("PUT", rf"/{bucket}/")  # stored, but the reply is lost: sent again, whole
    provider, log = make_provider(lambda_proxy, FakeClock())
    result = deploy(provider, spec, artifact)
    assert result.version == "1"
    assert len(lambda_proxy.calls("PUT", rf"/{bucket}/")) == 2
    key = f"faas-action/{function_name}/{artifact.sha256_hex}.zip"
    stored = boto_client("s3", moto_server).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert sha256_b64(stored) == artifact.sha256 == code_of(boto_client("lambda", moto_server), function_name)


# -- soak, in-process: many deploys, a fifth of the requests failing at random ---------------------


def test_soak_every_deploy_succeeds_or_fails_clearly_and_no_wrong_code_is_served(lambda_proxy, moto_server, aws_role, function_name, tmp_path):
    """30 deploys (every other one with new code) through a proxy failing 20% of requests with
    500, 503, 429, 409, resets before and after forwarding and slow replies, on a fake clock. Each
    either deploys (the alias then serves exactly this run's package) or raises the action's own
    error (exit 1); nothing else escapes (exit 2). End to end: test_faults_e2e.py."""
    moto = boto_client("lambda", moto_server)
    outcomes = []
    for run in range(30):
        provider, _ = make_provider(lambda_proxy, FakeClock())
        (tmp_path / f"run{run}").mkdir()
        spec, artifact = spec_for(tmp_path / f"run{run}", function_name, role=aws_role, alias="live", body=run // 2)
        lambda_proxy.chaos(rate=0.2, seed=run, slow_s=0.05)
        try:
            result = deploy(provider, spec, artifact)
        except ActionError as exc:  # an expected failure: exit 1 with this message
            outcomes.append(f"failed: {exc}")
            continue
        finally:
            lambda_proxy.chaos(rate=0.0, seed=run)
        served = moto.get_function(FunctionName=function_name, Qualifier="live")["Configuration"]
        assert (served["Version"], served["CodeSha256"]) == (result.version, artifact.sha256)
        outcomes.append("deployed")
    assert len(lambda_proxy.injected) >= 30
    assert outcomes.count("deployed") >= 27, outcomes
