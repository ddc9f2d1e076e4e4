"""A mutation whose reply was lost meets its own effect on its retry (issue 10, item 10, for every
mutation a deploy and a release make): the function URL, its permissions, concurrency, the alias
moves guarded by the alias's RevisionId, publishing, pruning and restoring. In-process on a fake
clock, through the proxy, which loses a reply (`reset_after`: the service acted) and plays
Lambda's answer to the retry (409 'exists', 404 'gone', 412 'RevisionId moved', the version
already published)."""

from __future__ import annotations

import pytest

from faas_action.errors import ProviderError
from faas_action.providers.aws.traffic import LambdaTraffic
from tests.conftest import boto_client
from tests.fakes.clock import FakeClock
from tests.test_aws_coverage import function, with_options  # noqa: F401 (fixture)
from tests.test_aws_provider import CONFLICT, created, deploy, make_provider, spec_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)

URL = r"/2021-10-31/functions/[^/]+/url"
POLICY = r"/2015-03-31/functions/[^/]+/policy"


def public_statements(proxy, name: str, qualifier: str = "live") -> list[tuple[str, str]]:
    return sorted((s["Sid"], s["Action"]) for s in proxy.policy_of(name, qualifier))


BOTH = [("FunctionURLAllowInvokeAction", "lambda:InvokeFunction"), ("FunctionURLAllowPublicAccess", "lambda:InvokeFunctionUrl")]


# -- the function URL and its permissions ---------------------------------------------------------


def test_a_url_created_whose_reply_was_lost_is_carried_on_with(function, lambda_proxy):
    provider, spec, artifact = function
    public = with_options(spec, function_url="public")
    lambda_proxy.reset_after("POST", URL)
    result = provider.apply(provider.plan(public, artifact), public, artifact)
    assert len(lambda_proxy.calls("POST", URL)) == 2  # the retry met 409 'exists'
    assert not lambda_proxy.calls("PUT", URL), "the URL was already as asked: nothing to update"
    assert result.url == lambda_proxy.urls[(spec.name, "live")]["FunctionUrl"]
    assert lambda_proxy.urls[(spec.name, "live")]["AuthType"] == "NONE"
    assert public_statements(lambda_proxy, spec.name) == BOTH


def test_a_url_someone_else_created_after_the_plan_is_updated_to_what_was_asked(function, lambda_proxy):
    provider, spec, artifact = function
    public = with_options(spec, function_url="public", function_url_cors={"AllowOrigins": ("https://example.com",)})
    plan = provider.plan(public, artifact)
    boto_client("lambda", lambda_proxy.url).create_function_url_config(FunctionName=spec.name, Qualifier="live", AuthType="AWS_IAM")
    result = provider.apply(plan, public, artifact)
    config = lambda_proxy.urls[(spec.name, "live")]
    assert (config["AuthType"], config["Cors"]["AllowOrigins"]) == ("NONE", ["https://example.com"])
    assert result.url == config["FunctionUrl"]
    assert public_statements(lambda_proxy, spec.name) == BOTH


def test_a_permission_added_whose_reply_was_lost_is_carried_on_with(function, lambda_proxy):
    provider, spec, artifact = function
    public = with_options(spec, function_url="public")
    lambda_proxy.reset_after("POST", POLICY, times=2)
    provider.apply(provider.plan(public, artifact), public, artifact)
    assert len(lambda_proxy.calls("POST", POLICY)) == 4
    assert public_statements(lambda_proxy, spec.name) == BOTH


def test_add_permission_retries_an_update_in_progress(function, lambda_proxy):
    """Lambda answers 409 both for 'the statement id exists' and 'an update is in progress': the
    latter is no reason to skip the statement."""
    provider, spec, artifact = function
    public = with_options(spec, function_url="public")
    lambda_proxy.fail("POST", POLICY, 409, "ResourceConflictException", CONFLICT, times=2)
    provider.apply(provider.plan(public, artifact), public, artifact)
    assert public_statements(lambda_proxy, spec.name) == BOTH


def test_a_statement_with_this_runs_id_that_grants_something_else_fails(function, lambda_proxy):
    provider, spec, artifact = function
    public = with_options(spec, function_url="public")
    plan = provider.plan(public, artifact)
    boto_client("lambda", lambda_proxy.url).add_permission(  # someone else, after the plan, under our id
        FunctionName=spec.name, Qualifier="live", StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:GetFunction", Principal="*",
    )
    with pytest.raises(ProviderError, match="FunctionURLAllowPublicAccess that does not grant lambda:InvokeFunctionUrl"):
        provider.apply(plan, public, artifact)


def test_a_permission_removed_whose_reply_was_lost_is_carried_on_with(function, lambda_proxy):
    provider, spec, artifact = function
    public = with_options(spec, function_url="public")
    provider.apply(provider.plan(public, artifact), public, artifact)
    private = with_options(spec, function_url="iam")
    lambda_proxy.reset_after("DELETE", POLICY, times=2)
    provider.apply(provider.plan(private, artifact), private, artifact)
    assert len(lambda_proxy.calls("DELETE", POLICY)) == 4  # each retry met 404
    assert public_statements(lambda_proxy, spec.name) == []
    assert lambda_proxy.urls[(spec.name, "live")]["AuthType"] == "AWS_IAM"


# -- concurrency -----------------------------------------------------------------------------------


def test_concurrency_puts_and_deletes_whose_replies_were_lost(lambda_proxy, aws_role, function_name, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role, alias="live", provisioned_concurrency=2, reserved_concurrency=5)
    lambda_proxy.reset_after("PUT", r"/concurrency$")
    lambda_proxy.reset_after("PUT", r"/provisioned-concurrency")
    deploy(provider, spec, artifact)
    assert lambda_proxy.reserved[function_name] == 5
    assert lambda_proxy.provisioned[(function_name, "live")]["Status"] == "READY"

    removed = with_options(spec, provisioned_concurrency=0, reserved_concurrency=-1)
    lambda_proxy.reset_after("DELETE", r"/concurrency$")
    lambda_proxy.reset_after("DELETE", r"/provisioned-concurrency")  # the retry meets 404: nothing left to delete
    provider.apply(provider.plan(removed, artifact), removed, artifact)
    assert len(lambda_proxy.calls("DELETE", r"/provisioned-concurrency")) == 2
    assert function_name not in lambda_proxy.reserved and (function_name, "live") not in lambda_proxy.provisioned
    assert provider.plan(removed, artifact).action == "none"


# -- the alias, moved by apply: UpdateAlias guarded by the alias's RevisionId ----------------------


def test_an_alias_move_whose_reply_was_lost_meets_412_and_carries_on(lambda_proxy, created, tmp_path):
    provider, log = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live", body=1)
    deploy(provider, spec, artifact)  # alias live -> 1
    spec, artifact = spec_for(tmp_path, created, alias="live", body=2)
    lambda_proxy.reset_after("PUT", rf"/functions/{created}/aliases/live$")
    result = deploy(provider, spec, artifact)
    moves = lambda_proxy.calls("PUT", rf"/functions/{created}/aliases/live$")
    assert len(moves) == 2 and all(m.body.get("RevisionId") for m in moves), "both attempts guarded"
    assert result.version == "2"
    assert boto_client("lambda", lambda_proxy.url).get_alias(FunctionName=created, Name="live")["FunctionVersion"] == "2"
    assert any("reply was lost" in line for line in log.lines)


def test_an_alias_moved_by_someone_else_after_the_plan_fails_as_a_concurrent_change(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live", body=1)
    deploy(provider, spec, artifact)
    spec, artifact = spec_for(tmp_path, created, alias="live", body=3)
    plan = provider.plan(spec, artifact)
    boto_client("lambda", lambda_proxy.url).update_alias(FunctionName=created, Name="live", FunctionVersion="$LATEST")
    with pytest.raises(ProviderError, match=r"alias live of .* was changed by someone else .*serves version \$LATEST"):
        provider.apply(plan, spec, artifact)


# -- publishing: Lambda hands back the version it published when nothing changed since ------------


def test_a_publish_whose_reply_was_lost_ends_with_one_new_version(lambda_proxy, created, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live", body=4)
    lambda_proxy.reset_after("POST", rf"/functions/{created}/versions$")
    result = deploy(provider, spec, artifact)
    assert len(lambda_proxy.calls("POST", rf"/functions/{created}/versions$")) == 2
    lam = boto_client("lambda", lambda_proxy.url)
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=created)["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    assert result.version == "2" and result.outputs["version-id"].endswith(f":{created}:2")
    served = lam.get_function(FunctionName=created, Qualifier="live")["Configuration"]
    assert (served["Version"], served["CodeSha256"]) == ("2", artifact.sha256)


def test_the_proxy_publishes_a_new_version_only_after_a_change(lambda_proxy, created, tmp_path):
    """The proxy's contract, checked against itself: an unchanged publish returns the last version."""
    lam = boto_client("lambda", lambda_proxy.url)
    first = lam.publish_version(FunctionName=created)["Version"]
    assert lam.publish_version(FunctionName=created)["Version"] == first
    lam.update_function_configuration(FunctionName=created, MemorySize=256)
    assert lam.publish_version(FunctionName=created)["Version"] == str(int(first) + 1)


# -- the release's alias moves and restore -----------------------------------------------------------


def traffic_for(proxy, name: str, old: str, new: str, clock: FakeClock) -> LambdaTraffic:
    provider, _ = make_provider(proxy, clock)
    alias = boto_client("lambda", proxy.url).get_alias(FunctionName=name, Name="live")
    return LambdaTraffic(
        provider.calls, None, None, function=name, metric_name=name, alias="live", old=old, new=new,
        old_description=alias.get("Description"), revision=alias["RevisionId"], alarms=(), read_errors=False,
        timeout_s=3, call_timeout_s=60,
    )


@pytest.fixture
def two_versions(lambda_proxy, created, tmp_path):
    """Alias live on version 1; version 2 published and serving nothing."""
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, created, alias="live", body=1)
    deploy(provider, spec, artifact)
    spec, artifact = spec_for(tmp_path, created, body=2)
    assert deploy(provider, spec, artifact).version == "2"
    return created


def alias_now(proxy, name: str) -> tuple[str, dict]:
    found = boto_client("lambda", proxy.url).get_alias(FunctionName=name, Name="live")
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_shift_and_promote_whose_replies_were_lost_carry_on(lambda_proxy, two_versions):
    traffic = traffic_for(lambda_proxy, two_versions, "1", "2", FakeClock())
    lambda_proxy.reset_after("PUT", r"/aliases/live$", times=1)
    traffic.shift(10)
    assert alias_now(lambda_proxy, two_versions) == ("1", {"2": 0.1})
    lambda_proxy.reset_after("PUT", r"/aliases/live$", times=1)
    traffic.promote()
    assert alias_now(lambda_proxy, two_versions) == ("2", {})
    moves = lambda_proxy.calls("PUT", r"/aliases/live$")
    assert len(moves) == 4 and all(m.body.get("RevisionId") for m in moves)


def test_a_release_fails_when_someone_else_moves_the_alias_meanwhile(lambda_proxy, two_versions):
    traffic = traffic_for(lambda_proxy, two_versions, "1", "2", FakeClock())
    traffic.shift(10)
    boto_client("lambda", lambda_proxy.url).update_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                                                          RoutingConfig={"AdditionalVersionWeights": {}})
    with pytest.raises(ProviderError, match="changed by someone else"):
        traffic.promote()
    assert alias_now(lambda_proxy, two_versions) == ("1", {}), "their change stands"


def test_a_restore_that_landed_while_every_reply_was_lost_is_not_a_failure(lambda_proxy, two_versions):
    clock = FakeClock()
    traffic = traffic_for(lambda_proxy, two_versions, "1", "2", clock)
    traffic.shift(10)
    lambda_proxy.reset_after("PUT", r"/aliases/live$", times=10_000)  # restore's own deadline runs out
    traffic.restore()
    assert alias_now(lambda_proxy, two_versions) == ("1", {})
    assert clock.slept > 0


def test_a_restore_that_did_not_land_is_still_a_failure(lambda_proxy, two_versions):
    traffic = traffic_for(lambda_proxy, two_versions, "1", "2", FakeClock())
    traffic.shift(10)
    lambda_proxy.reset_before("PUT", r"/aliases/live$", times=10_000)
    with pytest.raises(ProviderError, match="restoring alias live"):
        traffic.restore()
    assert alias_now(lambda_proxy, two_versions) == ("1", {"2": 0.1})
