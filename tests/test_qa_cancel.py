"""QA sweep: cancellation (issue 11 behaviour 5, issue 9 'a cancellation restores the alias'),
black box: entrypoint.py run as the runner runs it, signalled as the runner signals a cancelled
job (SIGINT, then SIGTERM 7.5 s later, then a kill 2.5 s after that), with the fakes holding a
chosen request so that the signal lands at a known point of the run."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.qa_checks import assert_well_behaved, results_of
from tests.test_qa_issue9 import alias_puts, inputs, lam, live, write_app  # noqa: F401

SIGTERM_AFTER_S = 7.5  # the runner's schedule after SIGINT
KILL_AFTER_S = 10.0


def cancel_as_the_runner_does(running, second: str | None = None):
    """SIGINT now (and `second`: 'SIGINT' or 'SIGTERM' 0.3 s later, as an impatient runner or a
    user cancelling twice does); SIGTERM at 7.5 s, a kill at 10 s. Returns the result and the
    seconds from the first signal to the end. A run still going at 10 s fails the test: the
    runner would have killed it, without outputs or summary."""
    started = time.monotonic()
    running.signal(signal.SIGINT)
    if second:
        time.sleep(0.3)
        running.signal(getattr(signal, second))
    try:
        running.proc.wait(timeout=SIGTERM_AFTER_S - (time.monotonic() - started))
    except Exception:
        running.signal(signal.SIGTERM)
        try:
            running.proc.wait(timeout=KILL_AFTER_S - (time.monotonic() - started))
        except Exception:
            running.proc.kill()
            result = running.finish(timeout=10)
            raise AssertionError("still running 10 s after SIGINT: the runner kills it here\n" + result.stdout[-4000:])
    elapsed = time.monotonic() - started
    return running.finish(timeout=10), elapsed


def assert_cancelled(result, errors: int = 1) -> list[dict]:
    """Exit 1, no traceback, one ::error per stopped function, a cancellation named, outputs and summary."""
    assert_well_behaved(result, 1, errors=errors)
    assert any("cancel" in e for e in result.errors), result.errors
    assert "results" in result.outputs, result.outputs
    assert result.summary.strip(), "no step summary"
    return results_of(result)


def wait_until(condition, timeout: float = 30, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s: {what}")


NEW = {"runtime": "python3.12", "handler": "app.handler"}


# -- AWS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("second", [None, "SIGTERM", "SIGINT"])
def test_aws_cancel_during_plan_reads_changes_nothing(aws_action, workspace, function_name, aws_role, lambda_proxy, second):
    write_app(workspace)
    lambda_proxy.slow("GET", rf"/functions/{function_name}", seconds=2, times=1)
    running = aws_action.start({**inputs(function_name), **NEW, "role": aws_role})
    wait_until(lambda: lambda_proxy.calls("GET", rf"/functions/{function_name}"), what="the plan's first read")
    result, elapsed = cancel_as_the_runner_does(running, second)
    entries = assert_cancelled(result)
    assert entries[0]["status"] == "failed" and "cancel" in entries[0]["error"]
    assert lambda_proxy.writes() == [], [(r.method, r.path) for r in lambda_proxy.writes()]



def test_aws_a_reply_held_past_the_grace_period_still_ends_the_run_with_outputs(aws_action, live, lambda_proxy, lam):
    """The code update's reply never comes within the runner's grace period: the run stops waiting
    for it, names the function as cancelled with its state unconfirmed, and writes its outputs."""
    lambda_proxy.slow("PUT", rf"/functions/{live}/code", seconds=15, times=1)
    running = aws_action.start(inputs(live))
    wait_until(lambda: lambda_proxy.calls("PUT", rf"/functions/{live}/code"), what="the code update")
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    assert elapsed < SIGTERM_AFTER_S, elapsed
    assert entries[0]["status"] == "failed" and "check" in entries[0]["error"], entries
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert len(lambda_proxy.calls("POST", rf"/functions/{live}/versions")) == 1, "published after the cancellation"


def test_aws_cancel_mid_bake_with_a_restore_slower_than_the_grace_period(aws_action, live, lambda_proxy, lam):
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "300"}))
    running.wait_for("Baking 10% for 300 s")
    lambda_proxy.slow("PUT", rf"/functions/{live}/aliases/live$", seconds=12, times=1)
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    assert entries[0]["status"] == "failed" and "check" in entries[0]["error"], entries
    alias = lam.get_alias(FunctionName=live, Name="live")  # the held restore reached Lambda
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
