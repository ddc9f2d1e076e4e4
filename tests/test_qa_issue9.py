"""QA, issue 9 (release safety on Lambda), black box: entrypoint.py run as the runner runs it,
moto behind tests/fakes/lambda_proxy.py. Written from the issue's text; each test names the
promise it checks. Scenarios the other release tests leave out: odd but valid spellings, YAML
lists in a config file, the boundaries of traffic-percent, every input problem at once, a gate
that fails at the last step, a restore that fails once, a rollback's dry run and its smoke test,
rollback to a version that does not exist, pruning after a failed release, the metrics' shape.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
import zipfile
from pathlib import Path

import pytest


SMOKE = '{"ping": 1}'
GATE_FIGURES = ("Invocations", "Errors", "ErrorRate", "Duration", "Throttles", "ConcurrentExecutions")


# -- helpers ---------------------------------------------------------------------------------------


def write_app(workspace: Path, body: str = "def handler(event, context):\n    return event\n") -> None:
    (workspace / "app").mkdir(exist_ok=True)
    (workspace / "app" / "app.py").write_text(body)


def zip_of(body: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", body)
    return buffer.getvalue()


def inputs(name: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", "alias": "live", **extra}


def annotation(line: str) -> str:
    """An annotation's message as the runner shows it (the command format escapes % and newlines)."""
    message = line.split("::", 2)[2]
    return message.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def warnings_of(result) -> list[str]:
    return [annotation(line) for line in result.stdout.splitlines() if line.startswith("::warning")]


def errors_of(result) -> list[str]:
    return [annotation(line) for line in result.errors]


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.code in (0, 1), f"exit {result.code}: {result.stdout}"


def alias_puts(proxy, name: str) -> list[dict]:
    return [r.body for r in proxy.calls("PUT", rf"/functions/{name}/aliases/live$")]


def lambda_metrics(cloudwatch, name: str, invocations: float, errors: float, version: str | None = None,
                   alias: str | None = "live", duration: float = 10.0) -> None:
    dims = [{"Name": "FunctionName", "Value": name}]
    if alias:
        dims.append({"Name": "Resource", "Value": f"{name}:{alias}"})
    if version:
        dims.append({"Name": "ExecutedVersion", "Value": version})
    now = dt.datetime.now(dt.timezone.utc)
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Value": invocations, "Timestamp": now},
        {"MetricName": "Errors", "Dimensions": dims, "Value": errors, "Timestamp": now},
        {"MetricName": "Duration", "Dimensions": dims, "Value": duration, "Timestamp": now},
    ])


def published(lam, name: str) -> list[int]:
    return sorted(int(v["Version"]) for v in lam.list_versions_by_function(FunctionName=name)["Versions"] if v["Version"].isdigit())


def make_alarm(cloudwatch, name: str) -> str:
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    return name


@pytest.fixture
def live(aws_action, workspace, function_name, aws_role):
    """Alias `live` serves version 1, deployed by the action; the code changed since, so the next
    deploy publishes version 2."""
    write_app(workspace, "def handler(event, context):\n    return 1\n")
    first = aws_action.run({**inputs(function_name), "runtime": "python3.12", "handler": "app.handler", "role": aws_role})
    assert first.code == 0, first.stdout + first.stderr
    write_app(workspace)
    return function_name


# -- inputs: every problem at once, before any request ---------------------------------------------


def test_every_release_input_problem_is_one_error_each_before_any_request(aws_action, workspace, lambda_proxy):
    """'Anything but the default needs alias and publish: true (input errors otherwise)';
    traffic-percent 1-99; max-error-rate a percent; rollback `previous` or a version number."""
    write_app(workspace)
    result = aws_action.run({
        "provider": "aws", "function-name": "fn-inputs", "source": "app",
        "traffic": "canary",  # no alias
        "traffic-percent": "100",
        "traffic-interval": "soon",
        "max-error-rate": "two",
        "rollback": "latest",
        "smoke-event": "{not json",
        "keep-versions": "0",
    })
    no_traceback(result)
    assert result.code == 1
    fields = sorted(line.split("::", 2)[2].split(":", 1)[0] for line in result.errors)
    assert fields == ["alias", "keep-versions", "max-error-rate", "rollback", "smoke-event", "traffic-interval", "traffic-percent"], result.errors
    assert lambda_proxy.requests == [], "a request went out before the input errors were reported"


@pytest.mark.parametrize("percent", ["0", "100", "-5", "10.5", "50%"])
def test_traffic_percent_outside_1_to_99_is_one_input_error(aws_action, workspace, lambda_proxy, percent):
    """traffic-percent: 'Default "10", 1-99.'"""
    write_app(workspace)
    result = aws_action.run(inputs("fn-percent", traffic="canary", **{"traffic-percent": percent}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "traffic-percent" in result.errors[0]
    assert lambda_proxy.requests == []


def test_canary_needs_publish_true(aws_action, workspace, lambda_proxy):
    """'Anything but the default needs alias and publish: true (input errors otherwise).'"""
    write_app(workspace)
    result = aws_action.run(inputs("fn-nopublish", traffic="linear", publish="false"))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "publish" in result.errors[0]
    assert lambda_proxy.requests == []


@pytest.mark.parametrize("extra", [{"max-error-rate": "2"}, {"alarms": "my-alarm"}, {"rollback": "previous"}])
def test_gates_and_rollback_without_an_alias_are_input_errors(aws_action, workspace, lambda_proxy, extra):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": "fn-noalias", "source": "app", **extra})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "alias" in result.errors[0]
    assert lambda_proxy.requests == []


# -- spellings ---------------------------------------------------------------------------------------


def test_odd_but_valid_spellings_from_a_config_file(aws_action, live, workspace, lambda_proxy, cloudwatch):
    """`traffic: Canary`, `max-error-rate: 2%` with spaces, `alarms` as a YAML list, numbers as
    YAML integers: the plan reads them as the step inputs would."""
    first, second = make_alarm(cloudwatch, f"{live}-errors"), make_alarm(cloudwatch, f"{live}-latency")
    (workspace / "faas.yml").write_text(
        f"provider: aws\nfunction-name: {live}\nsource: app\nalias: live\n"
        "traffic: ' Canary '\ntraffic-percent: 25\ntraffic-interval: 45\nmax-error-rate: ' 2.5 % '\n"
        f"alarms:\n  - {first}\n  - {second}\n"
        "smoke-event:\n  ping: 1\n"
    )
    lambda_proxy.requests.clear()
    result = aws_action.run({"config": "faas.yml", "dry-run": "true"})
    no_traceback(result)
    assert result.code == 0, result.stdout
    (plan,) = json.loads(result.outputs["plan"])
    steps = plan["steps"]
    assert "traffic on alias live (canary): 25% for 45 s, then 100%" in steps, steps
    gates = next(s for s in steps if s.startswith("gates:"))
    assert f"alarms {first}, {second} must not enter ALARM" in gates and "at most 2.5%" in gates
    assert lambda_proxy.invocations == [] and lambda_proxy.writes() == []


def test_alarms_separated_by_commas_and_lines_with_blanks(aws_action, live, lambda_proxy, cloudwatch):
    """alarms: 'CloudWatch alarm names (lines or commas)'."""
    names = [make_alarm(cloudwatch, f"{live}-a{i}") for i in range(3)]
    result = aws_action.run(inputs(live, alarms=f" {names[0]} ,\n\n{names[1]},{names[2]}\n", **{"dry-run": "true"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    gates = next(s for s in json.loads(result.outputs["plan"])[0]["steps"] if s.startswith("gates:"))
    assert f"alarms {', '.join(names)} must not enter ALARM" in gates


# -- boundaries of the shift ------------------------------------------------------------------------


@pytest.mark.parametrize(("percent", "weight"), [("1", 0.01), ("99", 0.99)])
def test_canary_at_the_boundaries(aws_action, live, lambda_proxy, lam, percent, weight):
    """traffic-percent 1 and 99 are valid: the alias routes that share, then promotes."""
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-percent": percent, "traffic-interval": "1"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    shift, promote = alias_puts(lambda_proxy, live)
    assert shift["FunctionVersion"] == "1" and shift["RoutingConfig"] == {"AdditionalVersionWeights": {"2": weight}}
    assert promote["FunctionVersion"] == "2" and promote["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    assert (result.outputs["traffic"], result.outputs["rolled-back"], result.outputs["previous-version"]) == ("100", "false", "1")


@pytest.mark.parametrize(("percent", "shares"), [("30", [30, 60, 90]), ("99", [99]), ("50", [50])])
def test_linear_steps_are_multiples_of_the_increment_then_100(aws_action, live, lambda_proxy, percent, shares):
    """linear: 'the increment of each step (10, 20, ... 90, then 100)'."""
    result = aws_action.run(inputs(live, traffic="linear", **{"traffic-percent": percent, "traffic-interval": "1"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    puts = alias_puts(lambda_proxy, live)
    assert [p["RoutingConfig"]["AdditionalVersionWeights"] for p in puts] == [{"2": s / 100} for s in shares] + [{}]
    assert [p["FunctionVersion"] for p in puts] == ["1"] * len(shares) + ["2"]
    assert result.outputs["traffic"] == "100"


# -- gates that fail late ------------------------------------------------------------------------------


def test_an_error_rate_gate_failing_at_the_last_linear_step_restores_the_old_version(aws_action, live, lambda_proxy, lam, cloudwatch):
    """'Any failed gate ... → restore the alias to the old version with no weights, then exit 1
    with one ::error naming the gate and its figures'; rolled-back=true, traffic=0."""
    running = aws_action.start(inputs(live, traffic="linear", **{"traffic-percent": "40", "traffic-interval": "3", "max-error-rate": "5%"}))
    running.wait_for("Shifted 80% of alias live to version 2")
    lambda_metrics(cloudwatch, live, invocations=50, errors=10, version="2")
    result = running.finish(timeout=60)
    no_traceback(result)
    assert result.code == 1, result.stdout
    (error,) = errors_of(result)
    assert "max-error-rate" in error and "20.0% (10 of 50 invocations)" in error, error
    puts = alias_puts(lambda_proxy, live)
    assert [p["FunctionVersion"] for p in puts] == ["1", "1", "1"]  # 40%, 80%, restore: never promoted
    assert puts[-1]["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["rolled-back"], result.outputs["traffic"], result.outputs["version"]) == ("true", "0", "2")
    assert lam.get_function(FunctionName=live, Qualifier="2")["Configuration"]["Version"] == "2"  # stays published


def test_an_alarm_at_the_final_check_after_promotion_rolls_back(aws_action, live, lambda_proxy, lam, cloudwatch):
    """Order: '... promote → smoke-invoke through the alias and check the alarms once more'; a
    failed gate then still restores the old version (from 100%)."""
    alarm = make_alarm(cloudwatch, f"{live}-late")
    lambda_proxy.slow("POST", r"/invocations\?Qualifier=live", seconds=2)  # the smoke test through the alias
    running = aws_action.start(inputs(live, traffic="canary", alarms=alarm, **{"traffic-interval": "1", "smoke-event": SMOKE}))
    running.wait_for("Promoted version 2")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="late errors")
    result = running.finish(timeout=60)
    no_traceback(result)
    assert result.code == 1, result.stdout
    (error,) = errors_of(result)
    assert alarm in error and "ALARM" in error
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")


def test_a_restore_that_fails_once_is_retried_and_rolls_back(aws_action, live, lambda_proxy, lam, cloudwatch):
    """'Restoring must itself be retried within its own short deadline.'"""
    lambda_metrics(cloudwatch, live, invocations=10, errors=5, version="2")
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "2", "max-error-rate": "1"}))
    running.wait_for("Shifted 10% of alias live to version 2")
    lambda_proxy.fail("PUT", rf"/functions/{live}/aliases/live$", 403, "AccessDeniedException", "transient deny", times=1)
    result = running.finish(timeout=60)
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    error = errors_of(result)[0]
    assert "50.0% (5 of 10 invocations)" in error and "serves version 1 again" in error, error
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_sigint_at_the_second_linear_step_restores(aws_action, live, lambda_proxy, lam):
    """'a cancellation of the job (SIGINT or SIGTERM ...) → restore the alias'."""
    running = aws_action.start(inputs(live, traffic="linear", **{"traffic-percent": "20", "traffic-interval": "300"}))
    running.wait_for("Baking 20% for 300 s")
    running.signal(signal.SIGINT)
    result = running.finish(timeout=30)
    no_traceback(result)
    assert result.code == 1, result.stdout
    assert len(result.errors) == 1 and "cancel" in result.errors[0]
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")


# -- smoke tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expect", "passes"), [
    ("ping", True),  # not JSON: a substring of the response
    ('{"ping": 1}', True),  # JSON: a subset
    ('{"ping": 2}', False),
    ("pong", False),
])
def test_smoke_expect_substring_or_json_subset(aws_action, live, lambda_proxy, lam, expect, passes):
    """smoke-expect: 'when it parses as JSON, a JSON subset of the response payload; otherwise a
    substring' (moto's invoke echoes the event)."""
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "smoke-event": '{"ping": 1, "extra": [1, 2]}',
                                                              "smoke-expect": expect}))
    no_traceback(result)
    served = lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"]
    if passes:
        assert result.code == 0, result.stdout
        assert served == "2"
        assert [i.qualifier for i in lambda_proxy.invocations] == ["2", "live"]
    else:
        assert result.code == 1 and len(result.errors) == 1, result.stdout
        assert "smoke test" in result.errors[0]
        assert served == "1" and alias_puts(lambda_proxy, live) == []  # stopped before any shift
        assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")


def test_smoke_event_from_a_file_and_all_at_once_smoke_failure_is_a_rollback(aws_action, live, workspace, lambda_proxy, lam):
    """'The smoke test runs for every strategy, all-at-once included ... a failed smoke test
    counts as a rollback (rolled-back=true, traffic=0) even though no traffic moved.'"""
    (workspace / "events").mkdir()
    (workspace / "events" / "ping.json").write_text('{"from": "file"}\n')
    lambda_proxy.script_invoke(live, "2", '{"errorMessage": "boom"}', "Handled")
    result = aws_action.run(inputs(live, **{"smoke-event": "@events/ping.json"}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert json.loads(lambda_proxy.invocations[0].payload) == {"from": "file"}
    assert (result.outputs["rolled-back"], result.outputs["traffic"], result.outputs["previous-version"]) == ("true", "0", "1")
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_an_alias_that_already_serves_the_code_has_nothing_to_shift(aws_action, live, lambda_proxy):
    """'Nothing to shift from (... an alias that already serves this code): no shift, no bake,
    traffic=100; the plan says why.'"""
    assert aws_action.run(inputs(live)).code == 0  # live -> 2
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "300", "smoke-event": SMOKE}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    assert "already serves version 2" in result.stdout
    assert alias_puts(lambda_proxy, live) == []
    assert result.outputs["traffic"] == "100" and result.outputs["rolled-back"] == "false"
    assert [i.qualifier for i in lambda_proxy.invocations] == ["2"]  # the smoke test still runs


# -- rollback mode -------------------------------------------------------------------------------------


def test_rollback_to_a_version_that_does_not_exist_changes_nothing(aws_action, live, lambda_proxy, lam):
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, rollback="42"))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "42" in result.errors[0]
    assert lambda_proxy.writes() == [] and lambda_proxy.invocations == []
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_a_dry_run_of_a_rollback_invokes_and_moves_nothing(aws_action, live, lambda_proxy, lam):
    """'Dry run: the plan lists the release steps ..., the smoke test and the gates; nothing is invoked.'"""
    assert aws_action.run(inputs(live)).code == 0  # live -> 2, recorded previous=1
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, rollback="previous", **{"dry-run": "true", "smoke-event": SMOKE}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    steps = json.loads(result.outputs["plan"])[0]["steps"]
    assert any("roll back alias live: version 2 -> 1" in s for s in steps), steps
    assert any(s.startswith("smoke test") for s in steps), steps
    assert lambda_proxy.writes() == [] and lambda_proxy.invocations == []
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    assert not lambda_proxy.calls("PUT", r"/code$")
    assert result.outputs["changed"] == "true"


def test_rollback_clears_weights_left_on_the_alias(aws_action, live, lambda_proxy, lam):
    """Rollback mode: 'move alias back to that version at once (weights cleared)'."""
    assert aws_action.run(inputs(live)).code == 0  # version 2 on live
    lam.update_function_code(FunctionName=live, ZipFile=zip_of("def handler(e, c):\n    return 3\n"))
    lam.publish_version(FunctionName=live)  # version 3, half-released by hand
    lam.update_alias(FunctionName=live, Name="live", RoutingConfig={"AdditionalVersionWeights": {"3": 0.3}})
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, rollback="1"))
    no_traceback(result)
    assert result.code == 0, result.stdout
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["version"], result.outputs["previous-version"], result.outputs["rolled-back"]) == ("1", "2", "true")
    assert not lambda_proxy.calls("PUT", rf"/functions/{live}/code$") and not lambda_proxy.calls("POST", rf"/functions/{live}/versions$")


def test_a_rollback_whose_smoke_test_fails_leaves_the_alias_where_it_was(aws_action, live, lambda_proxy, lam):
    """Rollback mode 'with the smoke test when smoke-event is set': a failing target is not served."""
    assert aws_action.run(inputs(live)).code == 0  # live -> 2
    lambda_proxy.script_invoke(live, "1", '{"errorMessage": "old bug"}', "Unhandled")
    result = aws_action.run(inputs(live, rollback="previous", **{"smoke-event": SMOKE}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "smoke test" in result.errors[0]
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    assert alias_puts(lambda_proxy, live)[-1:] != [{"FunctionVersion": "1"}]


def test_rollback_with_keep_versions_keeps_the_target_and_the_version_it_replaced(aws_action, live, lam, workspace):
    """keep-versions: 'Never delete a version that any alias points to ..., the new one, or the
    one the alias served before.'"""
    for body in (2, 3, 4):
        write_app(workspace, f"def handler(event, context):\n    return {body}\n")
        assert aws_action.run(inputs(live)).code == 0  # versions 2, 3, 4; live on 4
    result = aws_action.run(inputs(live, rollback="2", **{"keep-versions": "1"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    assert {2, 4} <= set(published(lam, live))


# -- pruning ---------------------------------------------------------------------------------------------


def test_a_rolled_back_release_prunes_nothing(aws_action, live, lam, cloudwatch):
    """keep-versions: 'after a successful deploy, delete published versions beyond the N newest'."""
    for body in range(2, 5):
        lam.update_function_code(FunctionName=live, ZipFile=zip_of(f"def handler(e, c):\n    return {body}\n"))
        lam.publish_version(FunctionName=live)  # versions 2..4, live stays on 1
    lambda_metrics(cloudwatch, live, invocations=10, errors=9, version="5")
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "max-error-rate": "1", "keep-versions": "1"}))
    no_traceback(result)
    assert result.code == 1, result.stdout
    assert published(lam, live) == [1, 2, 3, 4, 5]


def test_pruning_keeps_versions_held_by_routing_weights_of_another_alias(aws_action, live, lam, workspace):
    for body in range(2, 6):  # versions 2..5
        lam.update_function_code(FunctionName=live, ZipFile=zip_of(f"def handler(e, c):\n    return {body}\n"))
        lam.publish_version(FunctionName=live)
    lam.create_alias(FunctionName=live, Name="beta", FunctionVersion="4", RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    write_app(workspace, "def handler(event, context):\n    return 6\n")
    result = aws_action.run(inputs(live, **{"keep-versions": "1"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    # 6 new (live), 1 what live served before, 4 and 2 held by beta; 3 and 5 go.
    assert published(lam, live) == [1, 2, 4, 6]


# -- metrics -----------------------------------------------------------------------------------------------


def test_metrics_json_shape_and_figures_during_a_release(aws_action, live, lambda_proxy, cloudwatch):
    """metrics: 'for each scope, function and during a release new and old (read with the same
    dimensions as the error-rate gate), the figures of item 7 under their CloudWatch metric names'."""
    lambda_metrics(cloudwatch, live, invocations=30, errors=3, alias=None, duration=20.0)  # the function
    lambda_metrics(cloudwatch, live, invocations=8, errors=2, version="1", duration=40.0)  # old, through live
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    metrics = json.loads(result.outputs["metrics"])
    assert set(metrics) == {"function", "new", "old"}
    for scope in metrics.values():
        assert set(scope) == set(GATE_FIGURES), scope
        assert set(scope["Duration"]) == {"Average", "Maximum"}
    assert (metrics["function"]["Invocations"], metrics["function"]["Errors"], metrics["function"]["ErrorRate"]) == (30, 3, 10.0)
    assert (metrics["old"]["Invocations"], metrics["old"]["Errors"], metrics["old"]["ErrorRate"]) == (8, 2, 25.0)
    assert metrics["old"]["Duration"] == {"Average": 40.0, "Maximum": 40.0}
    assert metrics["new"]["Invocations"] == 0 and metrics["new"]["Errors"] == 0
    assert "#### Metrics of" in result.summary
    requests = [r for r in lambda_proxy.requests if r.target.endswith("GetMetricData")]
    assert len(requests) == 1, "'One GetMetricData call for all of them' (no gate reads here)"


def test_metrics_without_an_alias_hold_only_the_function_and_a_no_op_still_reads_them(aws_action, workspace, function_name, aws_role, lambda_proxy, cloudwatch):
    """'After every deploy the function's metrics are read.'"""
    write_app(workspace)
    created = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
                              "handler": "app.handler", "role": aws_role})
    assert created.code == 0, created.stdout
    lambda_metrics(cloudwatch, function_name, invocations=4, errors=1, alias=None, duration=10.0)
    dims = [{"Name": "FunctionName", "Value": function_name}]
    now = dt.datetime.now(dt.timezone.utc)
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Duration", "Dimensions": dims, "Value": 30.0, "Timestamp": now},
        {"MetricName": "Throttles", "Dimensions": dims, "Value": 3, "Timestamp": now},
        {"MetricName": "ConcurrentExecutions", "Dimensions": dims, "Value": 2, "Timestamp": now},
        {"MetricName": "ConcurrentExecutions", "Dimensions": dims, "Value": 5, "Timestamp": now},
    ])
    lambda_proxy.requests.clear()
    again = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app"})
    no_traceback(again)
    assert again.code == 0 and again.outputs["changed"] == "false", again.stdout
    metrics = json.loads(again.outputs["metrics"])
    assert set(metrics) == {"function"}
    figures = metrics["function"]
    assert (figures["Invocations"], figures["Errors"], figures["ErrorRate"]) == (4, 1, 25.0)
    assert figures["Duration"] == {"Average": 20.0, "Maximum": 30.0}
    assert (figures["Throttles"], figures["ConcurrentExecutions"]) == (3, 5)
    assert (again.outputs["previous-version"], again.outputs["rolled-back"], again.outputs["traffic"]) == ("", "false", "100")
    assert len([r for r in lambda_proxy.requests if r.target.endswith("GetMetricData")]) == 1, "one GetMetricData call for all of them"


def test_a_bake_shorter_than_the_functions_timeout_is_warned(aws_action, live, lambda_proxy):
    """'a bake shorter than 60 s or than the function's timeout cannot see every error: say so in
    a ::warning'."""
    result = aws_action.run(inputs(live, traffic="canary", timeout="120", **{"traffic-interval": "1", "max-error-rate": "5"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    assert any("120 s" in w for w in warnings_of(result)), warnings_of(result)


# -- summary and docs ---------------------------------------------------------------------------------------


def test_the_summary_timeline_has_step_weight_time_invocations_errors_and_alarms(aws_action, live, cloudwatch):
    """'The step summary shows the release as a timeline (step, weight, time, invocations and errors
    of the new version, alarm states) and a metrics table.'"""
    alarm = make_alarm(cloudwatch, f"{live}-timeline")
    result = aws_action.run(inputs(live, traffic="canary", alarms=alarm, **{"traffic-interval": "1"}))
    assert result.code == 0, result.stdout
    header = next(line for line in result.summary.splitlines() if line.startswith("|") and "weight" in line.lower())
    for column in ("step", "weight", "time", "invocations", "errors", "alarm"):
        assert column in header.lower(), header
    assert f"{alarm}" in result.summary and "OK" in result.summary


def test_the_readme_and_docs_keep_the_release_promises():
    from tests.harness import ROOT

    readme = (ROOT / "README.md").read_text()
    for action in ("lambda:InvokeFunction", "lambda:ListAliases", "lambda:DeleteFunction", "cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"):
        assert action in readme, action
    assert "traffic: canary" in readme and "smoke-event" in readme and "alarms:" in readme
    release = (ROOT / "docs" / "release.md").read_text().lower()
    for words in ("canary", "linear", "all-at-once", "rollback", "max-error-rate", "alarm", "by request, not by user"):
        assert words in release, words
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for name in ("traffic", "traffic-percent", "traffic-interval", "smoke-event", "smoke-expect", "alarms", "max-error-rate", "rollback", "keep-versions"):
        assert action["inputs"][name]["description"], name
    assert action["inputs"]["traffic"]["default"] == "all-at-once"
    assert action["inputs"]["traffic-percent"]["default"] == "10" and action["inputs"]["traffic-interval"]["default"] == "60"
    for name in ("previous-version", "rolled-back", "traffic", "metrics"):
        assert action["outputs"][name]["description"], name


# -- more hostile scenarios -----------------------------------------------------------------------------------


def test_a_function_given_by_its_arn_reads_the_gates_under_its_plain_name(aws_action, live, lam, cloudwatch):
    """max-error-rate: 'read from CloudWatch AWS/Lambda with the dimensions FunctionName,
    Resource=<function>:<alias> and ExecutedVersion' (CloudWatch knows the name, not the ARN)."""
    lambda_metrics(cloudwatch, live, invocations=50, errors=10, version="2")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{live}"
    result = aws_action.run({**inputs(live, traffic="canary", **{"traffic-interval": "1", "max-error-rate": "5"}), "function-name": arn})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "20.0% (10 of 50 invocations)" in errors_of(result)[0]
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")


def test_an_alarm_in_alarm_at_the_start_that_enters_alarm_again_fails_the_release(aws_action, live, lam, cloudwatch):
    """'An alarm that enters ALARM after the release started (its StateUpdatedTimestamp is later)
    fails the release. One already in ALARM at the start is named in a ::warning.'"""
    alarm = make_alarm(cloudwatch, f"{live}-flapping")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="the bug being fixed")
    running = aws_action.start(inputs(live, traffic="canary", alarms=alarm, **{"traffic-interval": "4"}))
    running.wait_for("Shifted 10% of alias live to version 2")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="recovered")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="broken again")
    result = running.finish(timeout=60)
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert alarm in result.errors[0] and "broken again" in result.errors[0]
    assert any(alarm in w and "already in ALARM" in w for w in warnings_of(result))
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_an_error_rate_equal_to_the_limit_passes(aws_action, live, lam, cloudwatch):
    """max-error-rate: 'Above the limit fails the release' (2% of 50 is not above 2%)."""
    lambda_metrics(cloudwatch, live, invocations=50, errors=1, version="2")
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "max-error-rate": "2%"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    assert json.loads(result.outputs["metrics"])["new"]["ErrorRate"] == 2.0


def test_a_cancellation_during_the_smoke_test_through_the_alias_restores(aws_action, live, lambda_proxy, lam):
    """'Any failed gate, failed smoke test, passed deadline, or a cancellation of the job (SIGINT or
    SIGTERM ...) → restore the alias to the old version with no weights, then exit 1 ...
    rolled-back=true, traffic=0.' The release is not over until its smoke test through the alias."""
    lambda_proxy.slow("POST", r"/invocations\?Qualifier=live", seconds=3)
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "1", "smoke-event": SMOKE}))
    running.wait_for(f"Smoke test: invoking {live}:live")
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=60)
    no_traceback(result)
    assert result.code == 1, result.stdout
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0"), result.outputs
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_rollback_mode_does_not_need_the_source(aws_action, live, workspace, lam):
    """'rollback: ... Rollback mode: no packaging and no code upload' — a rollback job need not check out the code."""
    assert aws_action.run(inputs(live)).code == 0  # live -> 2
    import shutil

    shutil.rmtree(workspace / "app")  # a rollback job that did not run actions/checkout
    result = aws_action.run(inputs(live, rollback="previous"))
    no_traceback(result)
    assert result.code == 0, result.stdout
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_a_cancellation_during_the_first_smoke_test_moves_no_traffic(aws_action, live, lambda_proxy, lam):
    """'a cancellation of the job (SIGINT or SIGTERM ...) → restore the alias to the old version'; the
    smoke test runs 'before any traffic reaches it'."""
    lambda_proxy.slow("POST", r"/invocations\?Qualifier=2", seconds=3)
    running = aws_action.start(inputs(live, **{"smoke-event": SMOKE}))
    running.wait_for(f"Smoke test: invoking {live}:2")
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=60)
    no_traceback(result)
    assert result.code == 1, result.stdout
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert alias_puts(lambda_proxy, live) == [], "traffic moved after the cancellation"
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0"), result.outputs


def test_a_release_past_its_deadline_restores_the_old_version(aws_action, live, lambda_proxy, lam):
    """'Any ... passed deadline ... → restore the alias to the old version with no weights, then exit 1'
    (the shift's reply never comes within wait-timeout)."""
    lambda_proxy.slow("PUT", rf"/functions/{live}/aliases/live$", seconds=6, times=1)
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "wait-timeout": "3"}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "within 3 s" in result.errors[0] and "serves version 1 again" in result.errors[0]
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0")
