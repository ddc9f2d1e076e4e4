"""Issue 14 on the Lambda provider in-process (fake clock): each new setting changed then a no-op,
Lambda's defaults compare equal, clearing with `none`, function URLs, concurrency and its waits.

boto3 talks to moto over HTTP through the proxy, which plays what moto ignores (lambda_contract.py).
"""

from __future__ import annotations

import dataclasses

import pytest

from faas_action.errors import DeadlineError, ProviderError
from faas_action.models import UNRESERVED
from faas_action.providers.aws.configuration import normalised, serves
from tests.conftest import boto_client
from tests.fakes.clock import FakeClock
from tests.test_aws_provider import deploy, make_provider, spec_for

ACCESS_POINT = "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-0123456789abcdef0"
DLQ = "arn:aws:sqs:us-east-1:123456789012:failed-events"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def with_options(spec, **options):
    return dataclasses.replace(spec, options=dataclasses.replace(spec.options, **options))


@pytest.fixture
def function(lambda_proxy, aws_role, function_name, tmp_path):
    """A zip function created with Lambda's defaults, alias `live` on version 1."""
    provider, _ = make_provider(lambda_proxy, FakeClock())
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role, alias="live")
    deploy(provider, spec, artifact)
    lambda_proxy.requests.clear()
    return provider, spec, artifact


@pytest.mark.parametrize(
    ("options", "field", "reported"),
    [
        ({"ephemeral_storage_mb": 2048}, "EphemeralStorage", {"Size": 2048}),
        ({"dead_letter_arn": DLQ}, "DeadLetterConfig", {"TargetArn": DLQ}),
        ({"kms_key_arn": KEY}, "KMSKeyArn", KEY),
        ({"log_format": "JSON"}, "LoggingConfig", None),
        ({"log_group": "/custom/app"}, "LoggingConfig", None),
        ({"snap_start": "PublishedVersions"}, "SnapStart", None),
        ({"file_system_configs": ((ACCESS_POINT, "/mnt/data"),)}, "FileSystemConfigs", [{"Arn": ACCESS_POINT, "LocalMountPath": "/mnt/data"}]),
    ],
)
def test_each_new_setting_changes_then_is_a_no_op(function, lambda_proxy, moto_server, options, field, reported):
    provider, spec, artifact = function
    spec = with_options(spec, **options)
    plan = provider.plan(spec, artifact)
    assert [c.field for c in plan.changes] == [field], plan.changes
    result = provider.apply(plan, spec, artifact)
    assert (result.changed, result.version) == (True, "2")
    updates = lambda_proxy.calls("PUT", rf"/functions/{spec.name}/configuration$")
    assert len(updates) == 1 and set(updates[0].body) - {"RevisionId"} == {field}
    # The published version serves it (the alias reads version 2's configuration), and a
    # second run with the same value changes nothing.
    served = boto_client("lambda", lambda_proxy.url).get_function(FunctionName=spec.name, Qualifier="live")["Configuration"]
    assert served["Version"] == "2"
    assert normalised(served)[field] == normalised({"FunctionName": spec.name, **updates[0].body})[field]
    if reported is not None:
        assert served[field] == reported
    writes = len(lambda_proxy.writes())
    again = provider.plan(spec, artifact)
    assert again.action == "none", again.steps
    assert provider.apply(again, spec, artifact).version == "2"
    assert len(lambda_proxy.writes()) == writes


def test_lambdas_defaults_given_explicitly_are_a_no_op(function, lambda_proxy):
    provider, spec, artifact = function
    spec = with_options(
        spec, ephemeral_storage_mb=512, log_format="Text", log_group=f"/aws/lambda/{spec.name}", snap_start="None",
        dead_letter_arn="", kms_key_arn="", file_system_configs=(), layers=(), subnet_ids=(), security_group_ids=(),
        tracing="PassThrough", reserved_concurrency=UNRESERVED,
    )
    plan = provider.plan(spec, artifact)
    assert plan.action == "none", (plan.changes, plan.steps)


def test_none_clears_what_was_set(function, lambda_proxy):
    provider, spec, artifact = function
    deploy(provider, with_options(spec, dead_letter_arn=DLQ, kms_key_arn=KEY, file_system_configs=((ACCESS_POINT, "/mnt/data"),)), artifact)
    cleared = with_options(spec, dead_letter_arn="", kms_key_arn="", file_system_configs=())
    plan = provider.plan(cleared, artifact)
    assert {c.field for c in plan.changes} == {"DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs"}
    provider.apply(plan, cleared, artifact)
    update = lambda_proxy.calls("PUT", rf"/functions/{spec.name}/configuration$")[-1].body
    assert (update["DeadLetterConfig"], update["KMSKeyArn"], update["FileSystemConfigs"]) == ({"TargetArn": ""}, "", [])
    config = boto_client("lambda", lambda_proxy.url).get_function_configuration(FunctionName=spec.name)
    assert "DeadLetterConfig" not in config and "KMSKeyArn" not in config and "FileSystemConfigs" not in config
    assert provider.plan(cleared, artifact).action == "none"


def test_log_format_keeps_the_deployed_log_group_and_levels_only_with_json(function, lambda_proxy):
    provider, spec, artifact = function
    deploy(provider, with_options(spec, log_group="/custom/app"), artifact)
    deploy(provider, with_options(spec, log_format="JSON"), artifact)
    sent = lambda_proxy.calls("PUT", rf"/functions/{spec.name}/configuration$")[-1].body["LoggingConfig"]
    assert sent == {"LogFormat": "JSON", "LogGroup": "/custom/app"}
    deploy(provider, with_options(spec, log_format="Text"), artifact)
    sent = lambda_proxy.calls("PUT", rf"/functions/{spec.name}/configuration$")[-1].body["LoggingConfig"]
    assert sent == {"LogFormat": "Text", "LogGroup": "/custom/app"}, "log levels exist only with JSON logs"


def test_a_version_with_an_older_setting_is_not_reused(function, lambda_proxy, moto_server):
    provider, spec, artifact = function
    wanted = with_options(spec, ephemeral_storage_mb=1024)
    deploy(provider, wanted, artifact)  # version 2 has 1024 MB
    # Someone sets it back by hand on $LATEST: version 2 no longer serves $LATEST's configuration.
    boto_client("lambda", lambda_proxy.url).update_function_configuration(FunctionName=spec.name, EphemeralStorage={"Size": 512})
    plan = provider.plan(wanted, artifact)
    assert [c.field for c in plan.changes] == ["EphemeralStorage"] and plan.publish


def test_normaliser_fills_lambdas_defaults_for_fields_a_reply_leaves_out():
    bare = {"FunctionName": "f", "Version": "3", "CodeSha256": "x"}
    explicit = {
        **bare, "MemorySize": 128, "Timeout": 3, "EphemeralStorage": {"Size": 512}, "TracingConfig": {"Mode": "PassThrough"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}, "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""}, "Layers": [], "PackageType": "Zip",
        "Architectures": ["x86_64"], "Environment": {"Variables": {}}, "ImageConfigResponse": {}, "KMSKeyArn": None,
    }
    assert normalised(bare) == normalised(explicit)
    assert serves(explicit, {**bare, "Version": "$LATEST"})
    assert not serves({**explicit, "EphemeralStorage": {"Size": 1024}}, {**bare, "Version": "$LATEST"})


# -- reserved and provisioned concurrency ---------------------------------------------------------


def test_reserved_concurrency_set_then_no_op_then_removed_without_publishing(function, lambda_proxy):
    provider, spec, artifact = function
    reserved = with_options(spec, reserved_concurrency=0)  # 0 is a value (throttle everything), not "none"
    plan = provider.plan(reserved, artifact)
    assert [c.field for c in plan.changes] == ["reserved concurrency"] and not plan.publish
    result = provider.apply(plan, reserved, artifact)
    assert (result.changed, result.version) == (True, "1")
    assert lambda_proxy.calls("PUT", rf"/functions/{spec.name}/concurrency$")[0].body == {"ReservedConcurrentExecutions": 0}
    assert not lambda_proxy.calls("POST", rf"/functions/{spec.name}/versions$")
    assert provider.plan(reserved, artifact).action == "none"
    removed = with_options(spec, reserved_concurrency=UNRESERVED)
    provider.apply(provider.plan(removed, artifact), removed, artifact)
    assert lambda_proxy.calls("DELETE", rf"/functions/{spec.name}/concurrency$")
    assert "Concurrency" not in boto_client("lambda", lambda_proxy.url).get_function(FunctionName=spec.name)
    assert provider.plan(removed, artifact).action == "none"


def test_provisioned_concurrency_is_set_after_the_alias_moves_and_waited_for(lambda_proxy, aws_role, function_name, tmp_path):
    clock = FakeClock()
    provider, log = make_provider(lambda_proxy, clock)
    lambda_proxy.script_provisioned(function_name, in_progress_polls=3, status="READY")
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role, alias="live", provisioned_concurrency=5)
    result = deploy(provider, spec, artifact)
    assert result.version == "1"
    sequence = [(r.method, r.path.split("?")[0].rsplit("/", 1)[-1]) for r in lambda_proxy.requests]
    assert sequence.index(("POST", "aliases")) < sequence.index(("PUT", "provisioned-concurrency"))
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert any("is READY" in line for line in log.lines)
    assert provider.plan(spec, artifact).action == "none"
    # New code moves the alias: Lambda allocates again for the new version, and the run waits.
    clock.sleeps.clear()
    spec2, artifact2 = spec_for(tmp_path, function_name, alias="live", provisioned_concurrency=5, body=2)
    plan = provider.plan(spec2, artifact2)
    assert any("READY on the new version" in step for step in plan.steps)
    provider.apply(plan, spec2, artifact2)
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(lambda_proxy.calls("PUT", r"/provisioned-concurrency")) == 1, "same value: no second put"
    removed = with_options(spec2, provisioned_concurrency=0)
    provider.apply(provider.plan(removed, artifact2), removed, artifact2)
    assert lambda_proxy.calls("DELETE", r"/provisioned-concurrency")
    assert provider.plan(removed, artifact2).action == "none"


def test_provisioned_concurrency_failure_reports_lambdas_reason(lambda_proxy, aws_role, function_name, tmp_path):
    provider, _ = make_provider(lambda_proxy, FakeClock())
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1, status="FAILED", reason="FUNCTION_ERROR_INIT_FAILURE")
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role, alias="live", provisioned_concurrency=2)
    with pytest.raises(ProviderError, match="FAILED: FUNCTION_ERROR_INIT_FAILURE"):
        deploy(provider, spec, artifact)


def test_provisioned_concurrency_deadline_names_what_it_waited_for(lambda_proxy, aws_role, function_name, tmp_path):
    clock = FakeClock()
    provider, _ = make_provider(lambda_proxy, clock)
    lambda_proxy.script_provisioned(function_name, in_progress_polls=10_000)
    spec, artifact = spec_for(tmp_path, function_name, role=aws_role, alias="live", provisioned_concurrency=2, wait=60)
    with pytest.raises(DeadlineError, match=rf"provisioned concurrency of {function_name}:live becoming READY did not finish within 60 s"):
        deploy(provider, spec, artifact)


# -- function URLs ---------------------------------------------------------------------------------


def test_public_url_on_the_alias_gets_both_invoke_permissions(function, lambda_proxy):
    provider, spec, artifact = function
    public = with_options(spec, function_url="public", function_url_cors={"AllowOrigins": ("https://example.com",), "MaxAge": 60})
    plan = provider.plan(public, artifact)
    assert not plan.publish and any("PUBLIC" in step and "anyone on the internet" in step for step in plan.steps)
    result = provider.apply(plan, public, artifact)
    assert result.url.startswith("https://") and "anyone on the internet" in result.summary
    assert lambda_proxy.urls[(spec.name, "live")]["AuthType"] == "NONE"
    assert (spec.name, "") not in lambda_proxy.urls, "the URL belongs to the alias, not the function"
    statements = {s["Action"]: s for s in lambda_proxy.policy_of(spec.name, "live")}
    assert statements["lambda:InvokeFunctionUrl"]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert statements["lambda:InvokeFunction"]["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    assert all(s["Principal"] == "*" for s in statements.values())
    writes = len(lambda_proxy.writes())
    again = provider.plan(public, artifact)
    assert again.action == "none" and any("PUBLIC" in step for step in again.steps)
    assert provider.apply(again, public, artifact).url == result.url
    assert len(lambda_proxy.writes()) == writes

    private = with_options(spec, function_url="iam")
    plan = provider.plan(private, artifact)
    assert {c.field for c in plan.changes} == {"function URL AuthType", "public access to the URL of alias live"}
    assert provider.apply(plan, private, artifact).summary == ""
    assert lambda_proxy.urls[(spec.name, "live")]["AuthType"] == "AWS_IAM"
    assert lambda_proxy.policy_of(spec.name, "live") == []
    assert provider.plan(private, artifact).action == "none"


def test_public_url_grants_only_what_is_missing(function, lambda_proxy):
    provider, spec, artifact = function
    client = boto_client("lambda", lambda_proxy.url)
    client.create_function_url_config(FunctionName=spec.name, Qualifier="live", AuthType="NONE")
    # Created before October 2025 (or in the console): only the first statement, under its own id.
    client.add_permission(FunctionName=spec.name, Qualifier="live", StatementId="console-made", Action="lambda:InvokeFunctionUrl",
                          Principal="*", FunctionUrlAuthType="NONE")
    public = with_options(spec, function_url="public")
    plan = provider.plan(public, artifact)
    assert plan.state.url_plan.add == ("FunctionURLAllowInvokeAction",) and not plan.state.url_plan.request
    provider.apply(plan, public, artifact)
    assert sorted(s["Sid"] for s in lambda_proxy.policy_of(spec.name, "live")) == ["FunctionURLAllowInvokeAction", "console-made"]
