"""End to end: releases on AWS Lambda (issue 9), entrypoint.py as the runner runs it, against moto
behind the test proxy (which routes invokes by alias weights and scripts function errors).

Bakes last a second or two (`traffic-interval`), so CloudWatch's figures are the ones the tests
put there with PutMetricData, under the dimensions the gates read.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
import zipfile

import pytest

from tests.conftest import boto_client
from tests.test_aws_e2e import create_inputs, write_app

SMOKE = '{"ping": 1}'


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture
def live(aws_action, workspace, function_name, aws_role):
    """A function whose alias `live` serves version 1, deployed by the action; its code changed
    since (the next deploy publishes version 2)."""
    write_app(workspace)
    first = aws_action.run(create_inputs(function_name, aws_role, alias="live"))
    assert first.code == 0, first.stdout + first.stderr
    write_app(workspace, "def handler(event, context):\n    return event\n")
    return function_name


def inputs(name: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", "alias": "live", **extra}


def alias_updates(proxy, name: str) -> list[dict]:
    return [r.body for r in proxy.calls("PUT", rf"/functions/{name}/aliases/live$")]


def put_lambda_metrics(cloudwatch, name: str, version: str, invocations: float, errors: float) -> None:
    dims = [
        {"Name": "FunctionName", "Value": name},
        {"Name": "Resource", "Value": f"{name}:live"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    now = dt.datetime.now(dt.timezone.utc)
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Value": invocations, "Timestamp": now},
        {"MetricName": "Errors", "Dimensions": dims, "Value": errors, "Timestamp": now},
        {"MetricName": "Duration", "Dimensions": dims, "Value": 12.5, "Timestamp": now},
    ])


def test_canary_is_smoke_tested_shifted_baked_and_promoted(aws_action, live, lambda_proxy, lam, cloudwatch):
    put_lambda_metrics(cloudwatch, live, "1", invocations=40, errors=0)
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(
        live, traffic="canary", **{"traffic-percent": "10", "traffic-interval": "2", "smoke-event": SMOKE,
                                   "smoke-expect": '{"ping": 1}', "max-error-rate": "5%"},
    ))
    assert result.code == 0, result.stdout + result.stderr
    out = result.outputs
    assert (out["version"], out["previous-version"], out["rolled-back"], out["traffic"]) == ("2", "1", "false", "100")

    # The smoke test ran by version before any traffic moved, then through the alias after.
    sequence = [r.path.split("?")[0].rsplit("/", 1)[-1] for r in lambda_proxy.writes() if "/aliases/live" in r.path or "invocations" in r.path]
    assert sequence == ["invocations", "live", "live", "invocations"]
    by_version, through_alias = lambda_proxy.invocations
    assert (by_version.qualifier, by_version.version) == ("2", "2")
    assert (through_alias.qualifier, through_alias.version) == ("live", "2")
    assert json.loads(by_version.payload) == {"ping": 1}

    shift, promote = alias_updates(lambda_proxy, live)
    assert shift["FunctionVersion"] == "1" and shift["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert promote["FunctionVersion"] == "2" and promote["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "2" and "faas-action previous=1" in alias["Description"]

    metrics = json.loads(out["metrics"])
    assert set(metrics) == {"function", "new", "old"}
    assert metrics["old"]["Invocations"] == 40 and metrics["new"]["Invocations"] == 0
    assert "Release of `" in result.summary and "| shift | " in result.summary and "| 10% |" in result.summary
    assert "#### Metrics of" in result.summary
    assert any("bake of 2 s is shorter than the 60 s" in line for line in result.stdout.splitlines() if line.startswith("::warning"))


def test_linear_goes_through_every_step(aws_action, live, lambda_proxy):
    result = aws_action.run(inputs(live, traffic="linear", **{"traffic-percent": "40", "traffic-interval": "1"}))
    assert result.code == 0, result.stdout
    weights = [u["RoutingConfig"]["AdditionalVersionWeights"] for u in alias_updates(lambda_proxy, live)]
    assert weights == [{"2": 0.4}, {"2": 0.8}, {}]
    assert result.outputs["traffic"] == "100"
    assert "40% for 1 s, 80% for 1 s, then 100%" in result.stdout


def test_an_alarm_that_enters_alarm_mid_bake_rolls_back(aws_action, live, lambda_proxy, lam, cloudwatch):
    for name in (f"{live}-errors", f"{live}-old-bug"):
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                    Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=f"{live}-old-bug", StateValue="ALARM", StateReason="the bug being fixed")
    running = aws_action.start(inputs(live, traffic="canary", alarms=f"{live}-errors\n{live}-old-bug", **{"traffic-interval": "4"}))
    running.wait_for("Shifted 10% of alias live to version 2")
    cloudwatch.set_alarm_state(AlarmName=f"{live}-errors", StateValue="ALARM", StateReason="Threshold Crossed")
    result = running.finish(timeout=60)
    assert result.code == 1, result.stdout
    assert len(result.errors) == 1
    assert f"alarm {live}-errors (Threshold Crossed) entered ALARM" in result.errors[0]
    assert "rolled back: alias live serves version 1 again" in result.errors[0]
    assert any(f"alarm {live}-old-bug is already in ALARM" in line for line in result.stdout.splitlines() if line.startswith("::warning"))
    assert (result.outputs["rolled-back"], result.outputs["traffic"], result.outputs["previous-version"]) == ("true", "0", "1")
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert lam.get_function(FunctionName=live, Qualifier="2")["Configuration"]["Version"] == "2"  # stays published
    assert "**rolled back**" in result.summary


@pytest.mark.parametrize("errors_on", ["2", "1"])
def test_errors_of_the_new_version_roll_back_the_old_versions_do_not(aws_action, live, lambda_proxy, lam, cloudwatch, errors_on):
    put_lambda_metrics(cloudwatch, live, errors_on, invocations=70, errors=5)
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "max-error-rate": "2%"}))
    alias = lam.get_alias(FunctionName=live, Name="live")
    if errors_on == "2":
        assert result.code == 1, result.stdout
        assert "error rate 7.1% (5 of 70 invocations) of version 2 over max-error-rate 2%" in result.errors[0].replace("%25", "%")
        assert result.outputs["rolled-back"] == "true" and result.outputs["traffic"] == "0"
        assert alias["FunctionVersion"] == "1"
        assert json.loads(result.outputs["metrics"])["new"]["ErrorRate"] == 7.14
    else:
        assert result.code == 0, result.stdout
        assert result.outputs["rolled-back"] == "false" and alias["FunctionVersion"] == "2"
        assert any("saw no invocation of version 2" in line for line in result.stdout.splitlines() if line.startswith("::warning"))


def test_a_restore_that_keeps_failing_says_where_the_alias_was_left(aws_action, live, lambda_proxy, lam, cloudwatch):
    put_lambda_metrics(cloudwatch, live, "2", invocations=10, errors=10)
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "2", "max-error-rate": "1", "wait-timeout": "3"}))
    running.wait_for("Shifted 10% of alias live to version 2")
    lambda_proxy.fail("PUT", rf"/functions/{live}/aliases/live$", 403, "AccessDeniedException", "not authorized: lambda:UpdateAlias", times=1000)
    result = running.finish(timeout=60)
    assert result.code == 1 and len(result.errors) == 1
    error = result.errors[0].replace("%25", "%")
    assert "error rate 100.0% (10 of 10 invocations)" in error
    assert "restoring alias live failed" in error and "alias live was left serving version 1 with 10% on version 2" in error
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("false", "10")
    assert lam.get_alias(FunctionName=live, Name="live")["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}


def test_a_smoke_function_error_stops_before_any_shift(aws_action, live, lambda_proxy, lam):
    lambda_proxy.script_invoke(live, "2", '{"errorMessage": "boom", "errorType": "KeyError"}', "Unhandled")
    result = aws_action.run(inputs(live, traffic="canary", **{"smoke-event": SMOKE, "traffic-interval": "1"}))
    assert result.code == 1
    assert len(result.errors) == 1 and "the function returned an error (Unhandled)" in result.errors[0]
    assert "no traffic was moved: alias live still serves version 1" in result.errors[0]
    assert alias_updates(lambda_proxy, live) == []
    assert (result.outputs["rolled-back"], result.outputs["traffic"], result.outputs["version"]) == ("true", "0", "2")
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


@pytest.mark.parametrize("fault", ["reset-before", "reset-after", "blackhole"])
def test_a_network_failure_of_the_smoke_invoke_rolls_back_with_one_clear_error(aws_action, live, lambda_proxy, lam, fault):
    """The invoke through the alias (after the promotion) fails on the network: the function may
    have run, so it is not retried; the release is rolled back and the step exits 1 (never 2),
    within the deadline even when the reply never comes."""
    through_alias = r"/invocations\?Qualifier=live$"
    if fault == "reset-before":
        lambda_proxy.reset_before("POST", through_alias)
    elif fault == "reset-after":
        lambda_proxy.reset_after("POST", through_alias)
    else:
        lambda_proxy.slow("POST", through_alias, seconds=30)
    result = aws_action.run(inputs(live, **{"smoke-event": SMOKE, "wait-timeout": "2"}), timeout=25)
    assert result.code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.errors) == 1, result.stdout
    error = result.errors[0]
    assert f"invoking {live}:live failed" in error or f"smoke test of {live}:live did not finish" in error, error
    assert "rolled back: alias live serves version 1 again" in error
    assert lambda_proxy.invocations[0].qualifier == "2", "the smoke test by version passed first"
    assert len(lambda_proxy.calls("POST", through_alias)) == 1, "never invoked twice"
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_sigterm_mid_bake_restores_the_alias(aws_action, live, lambda_proxy, lam):
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "300"}))
    running.wait_for("Baking 10% for 300 s")
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=30)
    assert result.code == 1, result.stdout
    # One error: what the cancellation did to the function (the run's note is a plain line).
    (function_error,) = result.errors
    assert "release of version 2 stopped: the job was cancelled" in function_error
    assert "rolled back: alias live serves version 1 again" in function_error
    assert "faas-action: the job was cancelled" in result.stdout
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert result.outputs["rolled-back"] == "true" and result.outputs["traffic"] == "0"


def test_rollback_mode_to_previous_then_to_a_number(aws_action, live, lambda_proxy, lam, workspace):
    assert aws_action.run(inputs(live)).code == 0  # version 2
    write_app(workspace, "def handler(event, context):\n    return 3\n")
    assert aws_action.run(inputs(live)).code == 0  # version 3, recorded previous=2
    lambda_proxy.requests.clear()

    back = aws_action.run(inputs(live, rollback="previous", **{"smoke-event": SMOKE}))
    assert back.code == 0, back.stdout
    assert (back.outputs["version"], back.outputs["previous-version"], back.outputs["rolled-back"]) == ("2", "3", "true")
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    assert not lambda_proxy.calls("PUT", rf"/functions/{live}/code$") and not lambda_proxy.calls("POST", rf"/functions/{live}/versions$")
    rolled_back_to = lam.get_function(FunctionName=live, Qualifier="2")["Configuration"]
    assert back.outputs["code-sha256"] == rolled_back_to["CodeSha256"]
    assert back.outputs["package-size"] == str(rolled_back_to["CodeSize"])
    assert [i.qualifier for i in lambda_proxy.invocations] == ["2", "live"]

    to_one = aws_action.run(inputs(live, rollback="1"))
    assert to_one.code == 0, to_one.stdout
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert to_one.outputs["previous-version"] == "2"

    missing = aws_action.run(inputs(live, rollback="9"))
    assert missing.code == 1 and "version 9 is not a published version" in missing.errors[0]


def test_rollback_previous_without_a_record_takes_the_highest_version_below(aws_action, live, lam):
    assert aws_action.run(inputs(live)).code == 0  # version 2
    lam.update_alias(FunctionName=live, Name="live", Description="set by hand")
    result = aws_action.run(inputs(live, rollback="previous", **{"dry-run": "true"}))
    assert result.code == 0, result.stdout
    assert "roll back alias live: version 2 -> 1 (the highest published version below 2)" in result.stdout
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"


def test_pruning_keeps_every_aliased_version(aws_action, live, lambda_proxy, lam, workspace):
    for body in range(2, 7):  # versions 2..6, live on 6
        lam.update_function_code(FunctionName=live, ZipFile=zip_of(f"def handler(event, context):\n    return {body}\n"))
        lam.publish_version(FunctionName=live)
    lam.update_alias(FunctionName=live, Name="live", FunctionVersion="6")
    lam.create_alias(FunctionName=live, Name="old", FunctionVersion="2")
    lam.create_alias(FunctionName=live, Name="weighted", FunctionVersion="3", RoutingConfig={"AdditionalVersionWeights": {"4": 0.5}})
    write_app(workspace, "def handler(event, context):\n    return 7\n")
    result = aws_action.run(inputs(live, **{"keep-versions": "1"}))
    assert result.code == 0, result.stdout
    remaining = sorted(int(v["Version"]) for v in lam.list_versions_by_function(FunctionName=live)["Versions"] if v["Version"].isdigit())
    # 7 is new (the newest, live), 6 is what live served before, 2, 3 and 4 are aliased.
    assert remaining == [2, 3, 4, 6, 7]
    assert "Pruned versions 1, 5" in result.stdout


def test_dry_run_lists_the_release_steps_and_invokes_nothing(aws_action, live, lambda_proxy, cloudwatch):
    cloudwatch.put_metric_alarm(AlarmName=f"{live}-errors", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, traffic="canary", alarms=f"{live}-errors", **{
        "dry-run": "true", "smoke-event": SMOKE, "traffic-interval": "60", "max-error-rate": "2"}))
    assert result.code == 0, result.stdout
    (plan,) = json.loads(result.outputs["plan"])
    steps = plan["steps"]
    assert "traffic on alias live (canary): 10% for 60 s, then 100%" in steps
    assert any(s.startswith("smoke test: invoke the new version with smoke-event") for s in steps)
    assert any(s.startswith(f"gates: alarms {live}-errors must not enter ALARM; error rate of the new version at most 2%") for s in steps)
    assert "move alias live" not in steps
    assert lambda_proxy.invocations == [] and lambda_proxy.writes() == []
    assert "10% for 60 s, then 100%" in result.summary


def test_a_missing_alarm_fails_before_anything_changes(aws_action, live, lambda_proxy):
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, alarms="no-such-alarm"))
    assert result.code == 1 and "no alarm named no-such-alarm" in result.errors[0]
    assert lambda_proxy.writes() == []


def test_a_metrics_access_denied_is_a_warning(aws_action, live, lambda_proxy):
    lambda_proxy.fail("POST", r"GetMetricData", 403, "AccessDenied", "User is not authorized to perform: cloudwatch:GetMetricData", times=10)
    result = aws_action.run(inputs(live))
    assert result.code == 0, result.stdout
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert any("could not be read" in w and "cloudwatch:GetMetricData" in w for w in warnings), warnings
    assert result.outputs["metrics"] == "{}" and result.outputs["version"] == "2"


def test_a_new_alias_is_created_after_its_version_passed_the_smoke_test(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role, alias="live", traffic="canary", **{"smoke-event": SMOKE}))
    assert result.code == 0, result.stdout
    assert "Nothing to shift from: alias live is new" in result.stdout
    assert [i.qualifier for i in lambda_proxy.invocations] == ["1", "live"]
    assert lam.get_alias(FunctionName=function_name, Name="live")["FunctionVersion"] == "1"
    assert (result.outputs["previous-version"], result.outputs["traffic"]) == ("", "100")


def test_an_error_rate_gate_that_cannot_read_cloudwatch_fails_before_anything_changes(aws_action, live, lambda_proxy):
    lambda_proxy.requests.clear()
    lambda_proxy.fail("POST", r"GetMetricData", 403, "AccessDenied", "User is not authorized to perform: cloudwatch:GetMetricData", times=10)
    result = aws_action.run(inputs(live, traffic="canary", **{"max-error-rate": "2"}))
    assert result.code == 1 and len(result.errors) == 1
    assert "max-error-rate cannot be checked" in result.errors[0] and "cloudwatch:GetMetricData" in result.errors[0]
    assert lambda_proxy.writes() == []


def test_a_smoke_test_without_an_alias_fails_the_step_and_says_the_version_is_live(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    lambda_proxy.script_invoke(function_name, "1", '{"errorMessage": "boom"}', "Unhandled")
    result = aws_action.run(create_inputs(function_name, aws_role, **{"smoke-event": SMOKE}))
    assert result.code == 1 and len(result.errors) == 1
    assert "has no alias to hold the new version back" in result.errors[0]
    assert (result.outputs["rolled-back"], result.outputs["traffic"], result.outputs["version"]) == ("false", "100", "1")
    assert [(i.qualifier, i.version) for i in lambda_proxy.invocations] == [("1", "1")]


def test_all_at_once_with_a_gate_is_blue_green(aws_action, live, lambda_proxy, lam, cloudwatch):
    put_lambda_metrics(cloudwatch, live, "2", invocations=20, errors=4)
    result = aws_action.run(inputs(live, **{"max-error-rate": "5", "traffic-interval": "1"}))
    assert result.code == 1, result.stdout
    assert "error rate 20.0% (4 of 20 invocations)" in result.errors[0].replace("%25", "%")
    promote, restore = alias_updates(lambda_proxy, live)
    assert promote["FunctionVersion"] == "2" and restore["FunctionVersion"] == "1"
    assert restore["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    assert "(blue-green)" in result.summary
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_a_function_url_on_a_new_alias_follows_the_release(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    # The release step creates the alias; the URL on it can only come after.
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role, alias="live", **{"function-url": "iam", "smoke-event": SMOKE}))
    assert result.code == 0, result.stdout
    url = lam.get_function_url_config(FunctionName=function_name, Qualifier="live")["FunctionUrl"]
    assert result.outputs["url"] == url
    writes = [r.path.split("?")[0] for r in lambda_proxy.writes()]
    create_alias = writes.index(f"/2015-03-31/functions/{function_name}/aliases")
    assert create_alias < writes.index(f"/2021-10-31/functions/{function_name}/url")
