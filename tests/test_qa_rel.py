"""QA sweep (release safety, issue 9; Lambda coverage, issue 14), black box: entrypoint.py run as
the runner runs it, moto behind tests/fakes/lambda_proxy.py. Combinations the other tests skip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.qa_checks import INJECTION, assert_well_behaved

from tests.test_qa_issue9 import SMOKE, alias_puts, errors_of, inputs, no_traceback, write_app, lam, cloudwatch, live, make_alarm  # noqa: F401


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
