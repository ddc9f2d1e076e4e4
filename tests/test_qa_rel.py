"""QA sweep (release safety, issue 9; Lambda coverage, issue 14), black box: entrypoint.py run as
the runner runs it, moto behind tests/fakes/lambda_proxy.py. Combinations the other tests skip."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from tests.qa_checks import INJECTION, assert_well_behaved

from tests.test_qa_issue9 import SMOKE, alias_puts, errors_of, inputs, no_traceback, write_app, live, make_alarm  # noqa: F401


def test_smoke_event_mapping_with_a_yaml_date_is_one_input_error(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    (workspace / "faas.yml").write_text("provider: aws\nfunction-name: fn-x\nsource: app\nalias: live\n"
                                        "smoke-event:\n  when: 2024-01-01\n")
    result = aws_action.run({"config": "faas.yml"})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "smoke-event" in result.errors[0]
    assert lambda_proxy.requests == []


@pytest.mark.parametrize("value", ["@", "@ ", "@app", "@missing.json", "@../outside.json"])
def test_smoke_event_file_problems(aws_action, workspace, lambda_proxy, value):
    write_app(workspace)
    result = aws_action.run(inputs("fn-x", **{"smoke-event": value}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "smoke-event" in result.errors[0]
    assert lambda_proxy.requests == []


def test_smoke_event_fifo(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    os.mkfifo(workspace / "ev.json")
    result = aws_action.run(inputs("fn-x", **{"smoke-event": "@ev.json"}), timeout=20)
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert lambda_proxy.requests == []


@pytest.mark.parametrize("value", ["a\x00b.zip"])
def test_nul_in_paths_from_config(aws_action, workspace, lambda_proxy, value):
    write_app(workspace)
    (workspace / "faas.yml").write_text("provider: aws\nfunction-name: fn-x\nsource: app\n"
                                        f"package-out: {json.dumps(value)}\n")
    result = aws_action.run({"config": "faas.yml"})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert lambda_proxy.requests == []


def test_smoke_event_nul_from_config(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    (workspace / "faas.yml").write_text("provider: aws\nfunction-name: fn-x\nsource: app\nalias: live\n"
                                        'smoke-event: "@a\\0b"\n')
    result = aws_action.run({"config": "faas.yml"})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout


def test_package_out_under_a_file(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": "fn-x", "source": "app", "dry-run": "true",
                             "package-out": "app/app.py/out.zip"})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout


@pytest.mark.parametrize("value", ["x" * 300 + ".zip", "x" * 300 + "/a.zip"])
def test_package_out_long_name(aws_action, workspace, lambda_proxy, value):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": "fn-x", "source": "app", "dry-run": "true",
                             "package-out": value})
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("100%", True), ("2.5%", True), ("-1", False), ("abc", False),
                                           ("100.1", False), ("2 %", True), ("%", False), (".5", False), ("1e1", False)])
def test_max_error_rate_forms(aws_action, workspace, lambda_proxy, value, ok):
    write_app(workspace)
    result = aws_action.run(inputs("fn-x", **{"max-error-rate": value, "traffic-percent": "abc"}))
    no_traceback(result)
    assert result.code == 1
    fields = sorted(line.split("::", 2)[2].split(":", 1)[0] for line in result.errors)
    assert fields == (["traffic-percent"] if ok else ["max-error-rate", "traffic-percent"]), result.errors
    assert lambda_proxy.requests == []


@pytest.mark.parametrize("value", ["0", "21601", "-1", "1.5", "10s"])
def test_traffic_interval_out_of_range(aws_action, workspace, lambda_proxy, value):
    write_app(workspace)
    result = aws_action.run(inputs("fn-x", traffic="canary", **{"traffic-interval": value}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert lambda_proxy.requests == []


def test_large_json_smoke_response_is_matched(aws_action, live, lambda_proxy, lam):
    body = json.dumps({"statusCode": 200, "body": "x" * 200_000})
    lambda_proxy.script_invoke(live, "2", body)
    result = aws_action.run(inputs(live, **{"smoke-event": SMOKE, "smoke-expect": '{"statusCode": 200}'}))
    no_traceback(result)
    assert result.code == 0, result.stdout


def test_smoke_expect_big_integer_exact(aws_action, live, lambda_proxy, lam):
    lambda_proxy.script_invoke(live, "2", '{"id": 12345678901234567891}')
    result = aws_action.run(inputs(live, **{"smoke-event": SMOKE, "smoke-expect": '{"id": 12345678901234567890}'}))
    no_traceback(result)
    assert result.code == 1, result.stdout


def test_an_alarm_reason_cannot_start_a_workflow_command(aws_action, live, lambda_proxy, lam, cloudwatch):
    """An alarm's StateReason is the world's text, quoted in the failure: it starts no command."""
    alarm = make_alarm(cloudwatch, f"{live}-x")
    running = aws_action.start(inputs(live, traffic="canary", alarms=alarm, **{"traffic-interval": "3"}))
    running.wait_for("Baking 10%")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason=INJECTION)
    result = running.finish(timeout=60)
    assert_well_behaved(result, 1, errors=1)
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"


def test_a_smoke_response_cannot_start_a_workflow_command(aws_action, live, lambda_proxy, lam):
    lambda_proxy.script_invoke(live, "2", json.dumps({"errorMessage": INJECTION}), "Unhandled")
    result = aws_action.run(inputs(live, **{"smoke-event": SMOKE}))
    assert_well_behaved(result, 1, errors=1)
    assert "smoke test" in result.errors[0]


def test_export_that_cannot_write_is_a_packaging_error(tmp_path):
    """A write that fails before the temporary file exists (a folder that is a file) is reported
    as what it is, not masked by the clean-up of a file that was never made."""
    from faas_action.errors import PackagingError
    from faas_action.models import Artifact
    from faas_action.package.export import export

    (tmp_path / "zip").write_bytes(b"PK")
    (tmp_path / "file").write_text("x")
    artifact = Artifact(path=tmp_path / "zip", size=2, sha256="", sha256_hex="", unzipped_size=0, file_count=0)
    with pytest.raises(PackagingError, match="could not write package-out"):
        export(artifact, tmp_path / "file" / "out.zip", tmp_path)


# -- release combinations ----------------------------------------------------------------------------------


def test_a_rollback_with_gates_moves_back_at_once(aws_action, live, lambda_proxy, lam, cloudwatch):
    """rollback: 'move alias back to that version at once'; a job that also sets the release's
    gates (one config for both) must not bake the rollback for a traffic-interval."""
    alarm = make_alarm(cloudwatch, f"{live}-rb")
    assert aws_action.run(inputs(live)).code == 0  # live -> 2
    result = aws_action.run(inputs(live, rollback="previous", alarms=alarm, **{"max-error-rate": "1", "traffic-interval": "300"}),
                            timeout=60)
    assert_well_behaved(result, 0, errors=0)
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert (result.outputs["version"], result.outputs["rolled-back"], result.outputs["traffic"]) == ("1", "true", "100")


def test_canary_from_an_alias_on_latest_moves_it_at_once(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    """Lambda refuses routing weights on an alias whose version is $LATEST (the README's limits
    say so): a canary from there cannot shift a share, so it moves at once and says why."""
    write_app(workspace, "def handler(event, context):\n    return 1\n")
    first = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
                            "handler": "app.handler", "role": aws_role})
    assert first.code == 0, first.stdout
    lam.create_alias(FunctionName=function_name, Name="live", FunctionVersion="$LATEST")
    write_app(workspace)
    lambda_proxy.requests.clear()
    result = aws_action.run(inputs(function_name, traffic="canary", **{"traffic-interval": "300"}), timeout=60)
    assert_well_behaved(result, 0, errors=0)
    assert "serves $LATEST" in result.stdout
    puts = alias_puts(lambda_proxy, function_name)
    assert [p.get("FunctionVersion") for p in puts] == ["2"], puts
    assert not (puts[0].get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["traffic"], result.outputs["previous-version"]) == ("100", "$LATEST")


def test_smoke_event_file_over_6_mb(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    (workspace / "big.json").write_text('"' + "x" * (6 * 1024 * 1024 + 10) + '"')
    result = aws_action.run(inputs("fn-x", **{"smoke-event": "@big.json"}))
    assert_well_behaved(result, 1, errors=1)
    assert lambda_proxy.requests == []


@pytest.mark.parametrize("expect", ["null", '"ok"', "200", "true"])
def test_a_json_scalar_smoke_expect_says_it_must_be_the_whole_response(aws_action, live, lambda_proxy, lam, expect):
    """A JSON smoke-expect is a subset (docs/release.md): a bare 200 must be the whole response.
    The failure must not claim that the response 'does not contain' a value it visibly holds."""
    lambda_proxy.script_invoke(live, "2", '{"statusCode": 200, "ok": true, "body": "ok", "n": null, "items": [[]]}')
    result = aws_action.run(inputs(live, **{"smoke-event": SMOKE, "smoke-expect": expect}))
    assert_well_behaved(result, 1, errors=1)
    (error,) = errors_of(result)
    assert "does not contain" not in error and "subset" in error, error


def test_a_json_scalar_smoke_expect_equal_to_the_response_passes(aws_action, live, lambda_proxy, lam):
    lambda_proxy.script_invoke(live, "2", "200")
    result = aws_action.run(inputs(live, **{"smoke-event": SMOKE, "smoke-expect": "200"}))
    assert_well_behaved(result, 0, errors=0)


# -- issue 14 ----------------------------------------------------------------------------------------


def test_none_everywhere_on_create_sends_nothing_to_clear(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    """`none` clears a setting; on a function that does not exist yet there is nothing to clear:
    the create sends none of them, no concurrency call is made, and a second run is a no-op."""
    write_app(workspace)
    cleared = {"layers": "none", "subnet-ids": "none", "security-group-ids": "none", "dead-letter-arn": "none",
               "kms-key-arn": "none", "file-system-configs": "none", "reserved-concurrency": "none",
               "provisioned-concurrency": "0", "function-url-cors": "none", "function-url": "iam"}
    base = {**inputs(function_name), "runtime": "python3.12", "handler": "app.handler", "role": aws_role, **cleared}
    result = aws_action.run(base)
    assert_well_behaved(result, 0, errors=0)
    (create,) = [r.body for r in lambda_proxy.calls("POST", r"/2015-03-31/functions$")]
    sent = {k: v for k, v in create.items() if k in ("Layers", "VpcConfig", "DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs")}
    assert not [v for v in sent.values() if v not in ([], {}, "", {"SubnetIds": [], "SecurityGroupIds": []}, {"TargetArn": ""})], sent
    assert not lambda_proxy.calls("PUT", r"/concurrency$") and not lambda_proxy.calls("DELETE", r"/concurrency$")
    assert not lambda_proxy.calls("DELETE", r"provisioned-concurrency")
    lambda_proxy.requests.clear()
    again = aws_action.run(base)
    assert_well_behaved(again, 0, errors=0)
    assert again.outputs["changed"] == "false", again.stdout
    assert lambda_proxy.writes() == []


def test_a_public_url_twice_is_a_no_op(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    write_app(workspace)
    base = {**inputs(function_name), "runtime": "python3.12", "handler": "app.handler", "role": aws_role,
            "function-url": "public", "function-url-cors": "AllowOrigins: ['https://a.example']\nMaxAge: 60"}
    first = aws_action.run(base)
    assert_well_behaved(first, 0, errors=0)
    lambda_proxy.requests.clear()
    again = aws_action.run(base)
    assert_well_behaved(again, 0, errors=0)
    assert again.outputs["changed"] == "false", again.stdout
    assert lambda_proxy.writes() == [], [(r.method, r.path) for r in lambda_proxy.writes()]
    assert again.outputs["url"] == first.outputs["url"] != ""


def test_a_public_url_added_by_a_canary_then_a_no_op(aws_action, live, lambda_proxy, lam):
    """function-url on an alias that exists but has no URL yet, during a canary: the URL is made
    once the release went through; a second run adds nothing."""
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "function-url": "public"}))
    assert_well_behaved(result, 0, errors=0)
    assert result.outputs["url"], result.outputs
    lambda_proxy.requests.clear()
    again = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "function-url": "public"}))
    assert_well_behaved(again, 0, errors=0)
    assert again.outputs["changed"] == "false" and lambda_proxy.writes() == []


def test_sigterm_twice_while_restoring_still_restores(aws_action, live, lambda_proxy, lam):
    """The runner may signal again while the alias is being restored: the restore goes on."""
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "300"}))
    running.wait_for("Baking 10% for 300 s")
    lambda_proxy.slow("PUT", rf"/functions/{live}/aliases/live$", seconds=3)
    running.signal(signal.SIGTERM)
    running.wait_for("Release stopped", timeout=20)
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=60)
    assert_well_behaved(result, 1)
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0"), result.outputs


def test_sigterm_mid_bake_restores_every_function_released_side_by_side(aws_action, workspace, aws_role, lambda_proxy, lam):
    names = [f"fn-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    for name in names:
        (workspace / name).mkdir()
        (workspace / name / "app.py").write_text("def handler(e, c):\n    return 1\n")
        first = aws_action.run({"provider": "aws", "function-name": name, "source": name, "alias": "live", "runtime": "python3.12",
                                "handler": "app.handler", "role": aws_role})
        assert first.code == 0, first.stdout
        (workspace / name / "app.py").write_text("def handler(e, c):\n    return 2\n")
    (workspace / "faas.yml").write_text("provider: aws\nalias: live\ntraffic: canary\ntraffic-interval: 300\nmax-parallel: 2\nfunctions:\n"
                                        + "".join(f"  - function-name: {n}\n    source: {n}\n" for n in names))
    running = aws_action.start({"config": "faas.yml"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # both canaries at 10%
        if all(lam.get_alias(FunctionName=n, Name="live").get("RoutingConfig", {}).get("AdditionalVersionWeights") for n in names):
            break
        time.sleep(0.3)
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=60)
    assert_well_behaved(result, 1)
    for name in names:
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"), (name, alias)


def test_smoke_expect_as_a_yaml_mapping_in_the_config_file(aws_action, live, workspace, lambda_proxy, lam):
    """The config file takes smoke-event as a YAML mapping; smoke-expect, its partner, too."""
    lambda_proxy.script_invoke(live, "2", '{"statusCode": 200, "body": "hi"}')
    (workspace / "faas.yml").write_text(f"provider: aws\nfunction-name: {live}\nsource: app\nalias: live\n"
                                        "smoke-event:\n  ping: 1\nsmoke-expect:\n  statusCode: 200\n")
    result = aws_action.run({"config": "faas.yml"})
    assert_well_behaved(result, 0, errors=0)
    (workspace / "faas.yml").write_text(f"provider: aws\nfunction-name: {live}\nsource: app\nalias: live\n"
                                        "smoke-event:\n  ping: 1\nsmoke-expect:\n  statusCode: 500\n")
    write_app(workspace, "def handler(event, context):\n    return 3\n")
    lambda_proxy.script_invoke(live, "3", '{"statusCode": 200, "body": "hi"}')
    failed = aws_action.run({"config": "faas.yml"})
    assert_well_behaved(failed, 1, errors=1)
    assert "smoke test" in failed.errors[0] and "500" in failed.errors[0]


def test_provisioned_concurrency_failing_after_a_promotion_keeps_the_release_outputs(aws_action, live, lambda_proxy, lam):
    """The canary went through and the alias serves version 2; provisioned concurrency then FAILED:
    the step fails, and its outputs still say where the alias is (traffic 100, not rolled back)."""
    lambda_proxy.script_provisioned(live, in_progress_polls=1, status="FAILED", reason="not enough unreserved concurrency")
    result = aws_action.run(inputs(live, traffic="canary", **{"traffic-interval": "1", "provisioned-concurrency": "2"}))
    assert_well_behaved(result, 1, errors=1)
    assert "not enough unreserved concurrency" in result.errors[0]
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    outputs = result.outputs
    assert (outputs.get("version"), outputs.get("previous-version"), outputs.get("traffic"), outputs.get("rolled-back")) == ("2", "1", "100", "false"), outputs
