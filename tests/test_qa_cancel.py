"""QA sweep: cancellation (issue 11 behaviour 5, issue 9 'a cancellation restores the alias'),
black box: entrypoint.py run as the runner runs it, signalled as the runner signals a cancelled
job (SIGINT, then SIGTERM 7.5 s later, then a kill 2.5 s after that), with the fakes holding a
chosen request so that the signal lands at a known point of the run."""

from __future__ import annotations

import signal
import time

import pytest

from tests.qa_checks import assert_well_behaved, results_of
from tests.test_qa_issue9 import alias_puts, inputs, live, write_app  # noqa: F401

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
    # The function's live group is closed before the run reports: its ::error is not folded away.
    before_errors = result.stdout.split("::error", 1)[0].splitlines()
    assert sum(line.startswith("::group::") for line in before_errors) == sum(line == "::endgroup::" for line in before_errors), before_errors


def test_aws_cancel_mid_bake_with_a_restore_slower_than_the_grace_period(aws_action, live, lambda_proxy, lam):
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "300"}))
    running.wait_for("Baking 10% for 300 s")
    lambda_proxy.slow("PUT", rf"/functions/{live}/aliases/live$", seconds=12, times=1)
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    assert entries[0]["status"] == "failed" and "check" in entries[0]["error"], entries
    alias = lam.get_alias(FunctionName=live, Name="live")  # the held restore reached Lambda
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


# -- Azure ---------------------------------------------------------------------------------------

from tests.fakes.azure_fake import FakeAzure  # noqa: E402
from tests.test_azure_e2e import BASE_INPUTS as AZURE_INPUTS  # noqa: E402


@pytest.fixture
def azure(action, workspace):
    (workspace / "host.json").write_text('{"version": "2.0"}')
    (workspace / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    with FakeAzure() as fake:
        action.base_env.update(fake.env())
        yield fake


@pytest.mark.parametrize("second", [None, "SIGTERM"])
def test_azure_cancel_during_a_kudu_deployment_poll(action, azure, second):
    azure.add_site("app", sku="FlexConsumption")
    azure.statuses = [1]  # Building, for ever
    azure.retry_after = "0.2"
    running = action.start({**AZURE_INPUTS, "wait-timeout": "120"})
    running.wait_for("Building")
    result, elapsed = cancel_as_the_runner_does(running, second)
    entries = assert_cancelled(result)
    # Kudu goes on building whatever the action does: the error says so, with the deployment's id.
    (deployment,) = azure.deployments
    assert entries[0]["status"] == "failed" and deployment in entries[0]["error"], entries
    assert "on its own" in entries[0]["error"], entries
    assert not azure.site("app").code_sha256, "the fake finished a deployment nobody polled"


def test_azure_cancel_during_a_slot_swap(action, azure):
    production = azure.add_site("app", kind="functionapp", sku="ElasticPremium", code_sha256="previous-build")
    azure.add_site("app", slot="staging", kind="functionapp", sku="ElasticPremium")
    azure.kudu_target = ("app", "staging")
    azure.swap_polls = 10_000
    azure.retry_after = "0.2"
    running = action.start({**AZURE_INPUTS, "slot": "staging", "swap": "true", "wait-timeout": "120"})
    running.wait_for("Swapping slot staging into production")
    time.sleep(0.5)
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    # The swap was sent: Azure finishes it (or fails it) as a whole; production serves the old build
    # until then. The error says that, not 'what it had changed is in the log above'.
    assert "swap of slot staging" in entries[0]["error"] and "on its own" in entries[0]["error"], entries
    assert production.code_sha256 == "previous-build"
    assert len(azure.calls("POST", "/slotsswap")) == 1


# -- GCP -----------------------------------------------------------------------------------------

from tests.fakes.gcp_fake import gcp_fake  # noqa: E402,F401 (fixture)
from tests.test_gcp_e2e import BASE as GCP_INPUTS, NAME as GCP_NAME, gcp_action  # noqa: E402,F401


def test_gcp_cancel_during_an_operation_poll(gcp_action, gcp_fake):
    gcp_fake.operation_never_done = True
    running = gcp_action.start({**GCP_INPUTS, "wait-timeout": "120"})
    wait_until(lambda: gcp_fake.calls("GET", "/operations/"), what="the first operation poll")
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    (operation,) = gcp_fake.operations
    assert operation in entries[0]["error"] and "on its own" in entries[0]["error"], entries
    assert gcp_fake.functions[GCP_NAME]["state"] == "DEPLOYING", gcp_fake.functions[GCP_NAME]
    assert len([c for c in gcp_fake.calls("POST") if c.path.endswith("/functions")]) == 1


# -- AWS: publish, alias, pruning, side by side ------------------------------------------------------


def test_aws_cancel_during_publish_leaves_the_alias_where_it_was(aws_action, live, lambda_proxy, lam):
    lambda_proxy.slow("POST", rf"/functions/{live}/versions", seconds=2, times=1)
    running = aws_action.start(inputs(live))
    wait_until(lambda: len(lambda_proxy.calls("POST", rf"/functions/{live}/versions")) == 2, what="the publish")
    result, elapsed = cancel_as_the_runner_does(running, "SIGINT")
    entries = assert_cancelled(result)
    assert entries[0]["status"] == "failed", entries
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert alias_puts(lambda_proxy, live) == []


def test_aws_cancel_while_the_alias_move_is_in_flight_reports_it_moved(aws_action, live, lambda_proxy, lam):
    lambda_proxy.slow("PUT", rf"/functions/{live}/aliases/live$", seconds=2, times=1)
    running = aws_action.start(inputs(live))
    wait_until(lambda: alias_puts(lambda_proxy, live), what="the alias move")
    result, elapsed = cancel_as_the_runner_does(running, "SIGTERM")
    assert_cancelled(result)
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "2"
    assert result.outputs["version"] == "2", result.outputs  # the output says it moved


def test_aws_cancel_during_pruning_keeps_the_release_outputs(aws_action, live, lambda_proxy, lam):
    assert aws_action.run(inputs(live)).code == 0  # live -> 2
    write_app(aws_action.workspace, "def handler(event, context):\n    return 3\n")
    lambda_proxy.slow("DELETE", rf"/functions/{live}\?Qualifier=", seconds=2, times=1)
    running = aws_action.start(inputs(live, **{"keep-versions": "1"}))
    wait_until(lambda: lambda_proxy.calls("DELETE", rf"/functions/{live}"), what="the first prune")
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "3"
    # The alias moved before the cancellation: the function is deployed, its release outputs kept.
    assert entries[0]["status"] == "deployed" and result.outputs["version"] == "3", entries
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("false", "100"), result.outputs


def test_aws_cancel_with_functions_side_by_side(aws_action, workspace, aws_role, lambda_proxy, lam):
    import uuid
    names = [f"fn-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for name in names:
        (workspace / name).mkdir()
        (workspace / name / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (workspace / "faas.yml").write_text(
        f"provider: aws\nalias: live\nruntime: python3.12\nhandler: app.handler\nrole: {aws_role}\nmax-parallel: 2\nfunctions:\n"
        + "".join(f"  - function-name: {n}\n    source: {n}\n" for n in names))
    lambda_proxy.slow("GET", rf"/functions/{names[0]}", seconds=15, times=1)  # the first one's plan read never answers in time
    lambda_proxy.queue_state(names[1], 400, State="Pending")  # the second waits for Active after its create
    running = aws_action.start({"config": "faas.yml", "wait-timeout": "120"})
    wait_until(lambda: lambda_proxy.calls("POST", r"/2015-03-31/functions$"), what="the second one's create")
    time.sleep(0.5)
    result, elapsed = cancel_as_the_runner_does(running, "SIGINT")
    entries = assert_cancelled(result, errors=2)
    assert [e["status"] for e in entries] == ["failed", "failed", "skipped"], entries
    assert f"::group::{names[0]}: given up on (its log so far)" in result.stdout, "the log of the function given up on is lost"
    assert not [r for r in lambda_proxy.requests if names[2] in r.path], "a function started after the cancellation"
    assert result.summary.count("| skipped |") == 1


@pytest.mark.parametrize("second", ["SIGINT", "SIGTERM"])
def test_aws_a_second_signal_mid_bake_still_restores_the_alias(aws_action, live, lambda_proxy, lam, second):
    running = aws_action.start(inputs(live, traffic="canary", **{"traffic-interval": "300"}))
    running.wait_for("Baking 10% for 300 s")
    lambda_proxy.slow("PUT", rf"/functions/{live}/aliases/live$", seconds=1, times=1)  # the second signal lands mid-restore
    result, elapsed = cancel_as_the_runner_does(running, second)
    assert_cancelled(result)
    alias = lam.get_alias(FunctionName=live, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert (result.outputs["rolled-back"], result.outputs["traffic"]) == ("true", "0"), result.outputs


def test_aws_cancel_while_waiting_for_the_function_to_be_ready(aws_action, live, lambda_proxy, lam):
    lambda_proxy.after_each_update(live, 400, LastUpdateStatus="InProgress")
    running = aws_action.start(inputs(live))
    wait_until(lambda: lambda_proxy.calls("PUT", rf"/functions/{live}/code"), what="the code update")
    time.sleep(0.5)
    result, elapsed = cancel_as_the_runner_does(running)
    entries = assert_cancelled(result)
    assert entries[0]["status"] == "failed" and "cancel" in entries[0]["error"], entries
    assert lam.get_alias(FunctionName=live, Name="live")["FunctionVersion"] == "1"
    assert len(lambda_proxy.calls("POST", rf"/functions/{live}/versions")) == 1  # only the fixture's
