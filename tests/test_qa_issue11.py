"""QA scenarios for issue 11 ("Many functions: deploy a `functions:` list in parallel, never lose
track of what was deployed, and fan out across jobs"), written from the issue's text and run as
the runner runs the action: entrypoint.py in a subprocess against moto behind the Lambda proxy
(which can play Lambda's busy lifecycle), the fake ARM/Kudu server and the fake Cloud Functions
API. They go past test_many_functions.py: the max-parallel bound itself, every key of every
`results` entry, a failure or a cancellation while functions run side by side, groups that
never hold another function's lines, `select` from the file, and several clouds in one run.
Tests marked xfail(strict=True) pin a product bug: the reason quotes the issue's sentence.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import boto_client
from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, TOKEN as AZURE_TOKEN, FakeAzure
from tests.fakes.gcp_fake import gcp_fake  # noqa: F401 (fixture)
from tests.harness import ROOT, action_inputs
from tests.qa_checks import assert_well_behaved, results_of, write_python_app

pytestmark = pytest.mark.timeout(180)

RUN_DEADLINE_S = 90
BAD_ROLE = "arn:aws:iam::123456789012:role/does-not-exist"
RESULT_KEYS = {"function-name", "provider", "status", "version", "url", "function-id", "changed", "code-sha256",
               "package-size", "duration"}
GCP_TOKEN = "ya29.qa-issue11-token-0123456789"


def names_for(count: int) -> list[str]:
    tag = os.urandom(3).hex()
    return [f"qa11-{tag}-{index}" for index in range(count)]


def write_config(workspace: Path, role: str, names: list[str], top: str = "", per_function: dict | None = None) -> None:
    write_python_app(workspace / "app")
    lines = ["provider: aws", "source: app", "runtime: python3.12", "handler: app.handler", f"role: {role}", "alias: live"]
    lines += [top] if top else []
    lines.append("functions:")
    for name in names:
        lines.append(f"  - function-name: {name}")
        for key, value in (per_function or {}).get(name, {}).items():
            lines.append(f"    {key}: {value}")
    (workspace / "faas.yml").write_text("\n".join(lines) + "\n")


def function_of(request) -> str | None:
    """The function a recorded Lambda request is about (CreateFunction names it in its body)."""
    if request.method == "POST" and re.search(r"/2015-03-31/functions/?$", request.path):
        return request.body.get("FunctionName")
    match = re.match(r"^/20\d\d-\d\d-\d\d/functions/([^/?]+)", request.path)
    return re.split(r":|%3A", match.group(1))[0] if match else None  # a qualified name (fn:1) is the function


def most_at_once(requests, names: list[str]) -> int:
    """How many functions' spans (first to last request, in arrival order) overlap at most."""
    spans: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        name = function_of(request)
        if name in names:
            spans.setdefault(name, [index, index])[1] = index
    events = sorted([(first, 1) for first, _ in spans.values()] + [(last, -1) for _, last in spans.values()],
                    key=lambda e: (e[0], e[1]))
    # A span that starts at the index another ends at does not overlap it: ends sort first.
    current = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], -e[1] if e[1] < 0 else 1)):
        current += step
        peak = max(peak, current)
    return peak


def groups(stdout: str) -> list[tuple[str, list[str]]]:
    """Each ::group:: title with the lines inside it; fails on a group opened inside another."""
    found: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line.startswith("::group::"):
            assert current is None, f"a group opened inside another: {line}"
            current = []
            found.append((line[len("::group::"):], current))
        elif line.startswith("::endgroup::"):
            assert current is not None, "an endgroup without a group"
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, "a group was left open"
    return found


# -- max-parallel: the bound itself -----------------------------------------------------------------


@pytest.mark.parametrize(("where", "bound"), [("step", 2), ("file", 1), ("step", 5)])
def test_no_more_than_max_parallel_functions_deploy_at_once(aws_action, workspace, aws_role, lambda_proxy, where, bound):
    names = names_for(5)
    write_config(workspace, aws_role, names, top=f"max-parallel: {bound}" if where == "file" else "")
    lambda_proxy.lifecycle(0.6)  # every change keeps a function busy: its waits overlap the others'
    inputs = {"config": "faas.yml", **({"max-parallel": str(bound)} if where == "step" else {})}
    result = aws_action.run(inputs, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert most_at_once(lambda_proxy.requests, names) == bound
    assert [r["status"] for r in results_of(result)] == ["deployed"] * 5


def test_the_step_max_parallel_wins_over_the_files(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names, top="max-parallel: 3")
    lambda_proxy.lifecycle(0.6)
    result = aws_action.run({"config": "faas.yml", "max-parallel": "1"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert most_at_once(lambda_proxy.requests, names) == 1


@pytest.mark.parametrize(("inputs", "top", "fragment"), [
    ({"max-parallel": "0"}, "", "max-parallel"),
    ({"max-parallel": "33"}, "", "max-parallel"),
    ({"max-parallel": "four"}, "", "max-parallel"),
    ({"max-parallel": "2.5"}, "", "max-parallel"),
    ({}, "max-parallel: 64", "max-parallel"),
    ({"fail-fast": "yes"}, "", "fail-fast"),
    ({}, "fail-fast: maybe", "fail-fast"),
])
def test_bad_run_level_values_are_input_errors_before_any_call(aws_action, workspace, aws_role, lambda_proxy, inputs, top,
                                                               fragment):
    names = names_for(2)
    write_config(workspace, aws_role, names, top=top)
    result = aws_action.run({"config": "faas.yml", **inputs}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert fragment in result.errors[0]
    assert lambda_proxy.requests == []


@pytest.mark.parametrize("key", ["max-parallel: 2", "fail-fast: true", "select: x"])
def test_run_level_keys_inside_a_function_are_input_errors(aws_action, workspace, aws_role, lambda_proxy, key):
    names = names_for(2)
    name, value = key.split(": ")
    write_config(workspace, aws_role, names, per_function={names[1]: {name: value}})
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert name in result.errors[0] and "functions[1]" in result.errors[0], result.errors
    assert lambda_proxy.requests == []


# -- results: every function, every key, config order, whatever happened ------------------------------


def test_every_results_entry_has_every_key_whatever_its_status(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(4)
    write_config(workspace, aws_role, names, top="fail-fast: true", per_function={names[2]: {"role": BAD_ROLE}})
    assert_well_behaved(aws_action.run({"config": "faas.yml", "select": names[1]}, timeout=RUN_DEADLINE_S), 0, errors=0)
    result = aws_action.run({"config": "faas.yml", "max-parallel": "1"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    entries = results_of(result)
    assert [e["function-name"] for e in entries] == names
    assert [e["status"] for e in entries] == ["deployed", "unchanged", "failed", "skipped"]
    for entry in entries:
        assert RESULT_KEYS <= set(entry), (entry, RESULT_KEYS - set(entry))
        assert isinstance(entry["changed"], bool) and isinstance(entry["duration"], (int, float))
        assert entry["provider"] == "aws"
        assert ("error" in entry) is (entry["status"] == "failed"), entry
    deployed, unchanged, failed, skipped = entries
    assert deployed["changed"] is True and deployed["version"] == "1" and deployed["function-id"].endswith(names[0])
    assert unchanged["changed"] is False and unchanged["version"] == "1" and unchanged["code-sha256"] == deployed["code-sha256"]
    assert failed["error"] and failed["changed"] is False
    assert skipped["version"] == "" and skipped["changed"] is False
    assert names[2] in result.errors[0]


ISSUE_11_INPUT = ("issue 11: '`results`: a JSON list with one entry for every function of the run, in config order, "
                  "whatever happened'; when a function's inputs are invalid, main._write_outputs builds `results` from "
                  "state.jobs, which holds only the valid functions: the invalid one is missing")


def test_results_list_every_function_even_when_one_has_bad_inputs(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names, per_function={names[1]: {"memory": 1}})
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert lambda_proxy.requests == []
    assert [e["function-name"] for e in results_of(result)] == names


ISSUE_11_SINGLE = ("issue 11: 'The single-function outputs keep their meaning for a one-function run'; in a two-function "
                   "run where one function's inputs are invalid, main._write_outputs sees one outcome and sets "
                   "`code-sha256` and `package-size` of the other as if the run had one function")


def test_single_function_outputs_stay_unset_in_a_several_function_run_with_an_input_error(aws_action, workspace, aws_role,
                                                                                          lambda_proxy):
    names = names_for(2)
    write_config(workspace, aws_role, names, per_function={names[1]: {"memory": 1}})
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert not {"code-sha256", "package-size", "version", "function-id"} & set(result.outputs), result.outputs


def test_a_crash_still_writes_the_summary_and_the_outputs(aws_action, workspace, aws_role, lambda_proxy):
    """The source of the second function holds a file name that is not UTF-8: today a crash
    (issue 10 item 3), after its fix an input error. Either way the step writes a summary that
    says what happened, and `results`."""
    names = names_for(2)
    write_config(workspace, aws_role, names, per_function={names[1]: {"source": "other"}})
    write_python_app(workspace / "other")
    with open(os.path.join(os.fsencode(workspace / "other"), b"caf\xe9.py"), "wb") as handle:
        handle.write(b"x = 1\n")
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert result.code in (1, 2)
    assert result.summary.strip(), "no step summary"
    assert "results" in result.outputs
    assert lambda_proxy.writes() == []


# -- exit code, one ::error per failed function, the summary's rows --------------------------------


def test_two_failures_among_four_are_two_errors_and_the_summary_has_each_rows_own_figures(aws_action, workspace, aws_role,
                                                                                         lambda_proxy):
    names = names_for(4)
    write_config(workspace, aws_role, names, per_function={names[0]: {"role": BAD_ROLE}, names[3]: {"role": BAD_ROLE}})
    lambda_proxy.lifecycle(0.6)
    result = aws_action.run({"config": "faas.yml", "max-parallel": "4"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=2)
    assert names[0] in result.errors[0] + result.errors[1] and names[3] in result.errors[0] + result.errors[1]
    assert [r["status"] for r in results_of(result)] == ["failed", "deployed", "deployed", "failed"]
    rows = {row.split("|")[1].strip(" `"): [c.strip() for c in row.split("|")[1:-1]]
            for row in result.summary.splitlines() if row.startswith("| `qa11-")}
    assert list(rows) == names, "one row per function, in config order"
    for entry in results_of(result):
        row = rows[entry["function-name"]]
        assert entry["status"] in row[2]
        assert row[3] == entry["version"]
        assert row[7] == f"{entry['duration']:.1f} s"
    failed, deployed = results_of(result)[0], results_of(result)[1]
    assert failed["duration"] < deployed["duration"], "each row has its own duration, not the run's"


def test_fail_fast_lets_the_running_function_finish_and_starts_no_other(aws_action, workspace, aws_role, lambda_proxy):
    """max-parallel 2: the first function fails at once while the second is busy (lifecycle);
    with fail-fast the second finishes and the third is never started."""
    names = names_for(3)
    write_config(workspace, aws_role, names, top="fail-fast: true", per_function={names[0]: {"role": BAD_ROLE}})
    lambda_proxy.lifecycle(1.5)
    result = aws_action.run({"config": "faas.yml", "max-parallel": "2"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert [r["status"] for r in results_of(result)] == ["failed", "deployed", "skipped"]
    assert not [r for r in lambda_proxy.requests if function_of(r) == names[2]], "the third was started"
    assert boto_client("lambda", lambda_proxy.url).get_alias(FunctionName=names[1], Name="live")["FunctionVersion"] == "1"


# -- the log: live lines, and one group per function that holds only its own lines -----------------


def test_each_group_holds_only_its_own_functions_lines(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(6)
    write_config(workspace, aws_role, names)
    lambda_proxy.lifecycle(0.4)
    result = aws_action.run({"config": "faas.yml", "max-parallel": "6"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    found = groups(result.stdout)
    titles = [title for title, _ in found]
    for name in names:
        assert len([t for t in titles if t.startswith(f"{name}:")]) == 1, (name, titles)
    for title, lines in found:
        owner = title.split(":")[0]
        strangers = [ln for ln in lines if re.match(r"^\[qa11-", ln) or any(n in ln for n in names if n != owner)]
        assert strangers == [], (title, strangers)
    outside = [ln for ln in result.stdout.splitlines() if ln.startswith("[qa11-")]
    for name in names:
        assert [ln for ln in outside if ln.startswith(f"[{name}] ")], f"no live line for {name}"


# -- cancellation while functions run side by side ---------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cancellation_while_two_run_side_by_side_writes_outputs_and_one_error_each(aws_action, workspace, aws_role,
                                                                                  lambda_proxy, signum):
    names = names_for(4)
    write_config(workspace, aws_role, names)
    for name in names:
        lambda_proxy.queue_state(name, 200, State="Pending")
    running = aws_action.start({"config": "faas.yml", "max-parallel": "2", "wait-timeout": "120"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(lambda_proxy.calls("POST", r"/2015-03-31/functions$")) < 2:
        time.sleep(0.05)
    time.sleep(0.5)
    running.signal(signum)
    result = running.finish(timeout=60)
    assert_well_behaved(result, 1, errors=2)
    entries = results_of(result)
    assert [e["status"] for e in entries] == ["failed", "failed", "skipped", "skipped"]
    assert all("cancel" in e["error"] for e in entries[:2])
    assert {names[0], names[1]} == {n for n in names[:2] if any(n in e for e in result.errors)}
    assert not [r for r in lambda_proxy.requests if function_of(r) in names[2:]], "a function started after the signal"
    assert result.summary.count("| skipped |") == 2
    groups(result.stdout)  # well nested


def test_cancellation_of_a_dry_run_writes_the_outputs(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names)
    lambda_proxy.slow("GET", r"/2015-03-31/functions/qa11-", seconds=3, times=6)
    running = aws_action.start({"config": "faas.yml", "max-parallel": "1", "dry-run": "true", "wait-timeout": "60"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not lambda_proxy.requests:
        time.sleep(0.05)
    time.sleep(0.3)
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=60)
    assert result.code == 1 and "Traceback" not in result.stdout + result.stderr
    statuses = [e["status"] for e in results_of(result)]
    assert statuses[1:] == ["skipped", "skipped"], statuses
    assert "matrix" in result.outputs and "changed" in result.outputs
    assert lambda_proxy.writes() == []


# -- select -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["lines", "commas-and-spaces", "file-list", "file-string"])
def test_select_in_every_form_deploys_only_the_named_in_config_order(aws_action, workspace, aws_role, lambda_proxy, form):
    names = names_for(4)
    chosen = [names[3], names[1]]
    top = {"file-list": f"select: [{chosen[0]}, {chosen[1]}]", "file-string": f"select: {chosen[0]}, {chosen[1]}"}.get(form, "")
    write_config(workspace, aws_role, names, top=top)
    step = {"lines": "\n".join(chosen) + "\n", "commas-and-spaces": f"  {chosen[0]} ,{chosen[1]} "}.get(form)
    result = aws_action.run({"config": "faas.yml", **({"select": step} if step else {})}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert [e["function-name"] for e in results_of(result)] == [names[1], names[3]]
    touched = {function_of(r) for r in lambda_proxy.requests} - {None}
    assert touched == {names[1], names[3]}


def test_select_leaves_the_other_functions_alone_even_when_they_are_invalid(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names, per_function={names[0]: {"memory": 1}, names[2]: {"source": "missing"}})
    result = aws_action.run({"config": "faas.yml", "select": names[1]}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert [e["function-name"] for e in results_of(result)] == [names[1]]


def test_select_with_known_and_unknown_names_is_one_input_error_before_any_call(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(2)
    write_config(workspace, aws_role, names)
    result = aws_action.run({"config": "faas.yml", "select": f"{names[0]}\nno-such-function"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "no-such-function" in result.errors[0]
    assert lambda_proxy.requests == []


# -- a dry run drives the matrix; `changed` of a dry run ---------------------------------------------


def test_a_one_function_dry_run_sets_changed_and_matrix(aws_action, workspace, aws_role, lambda_proxy, function_name):
    write_python_app(workspace / "app")
    inputs = {"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
              "handler": "app.handler", "role": aws_role}
    planned = aws_action.run({**inputs, "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(planned, 0, errors=0)
    assert planned.outputs["changed"] == "true"
    assert json.loads(planned.outputs["matrix"]) == {"include": [{"function-name": function_name}]}
    assert lambda_proxy.writes() == []
    assert_well_behaved(aws_action.run(inputs, timeout=RUN_DEADLINE_S), 0, errors=0)
    again = aws_action.run({**inputs, "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert again.outputs["changed"] == "false"
    assert json.loads(again.outputs["matrix"]) == {"include": []}


def test_the_matrix_of_a_dry_run_drives_select_job_by_job(aws_action, workspace, aws_role, lambda_proxy):
    """The README's fan-out: the plan job's matrix, then one job per entry with `select`; after
    them, a new dry run finds nothing to change."""
    names = names_for(3)
    write_config(workspace, aws_role, names)
    plan = aws_action.run({"config": "faas.yml", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(plan, 0, errors=0)
    matrix = json.loads(plan.outputs["matrix"])
    assert [m["function-name"] for m in matrix["include"]] == names
    for entry in matrix["include"]:
        job = aws_action.run({"config": "faas.yml", "select": entry["function-name"]}, timeout=RUN_DEADLINE_S)
        assert_well_behaved(job, 0, errors=0)
        assert job.outputs["version"] == "1"  # a one-function run: the single outputs are set
    after = aws_action.run({"config": "faas.yml", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert after.outputs["changed"] == "false" and json.loads(after.outputs["matrix"]) == {"include": []}


# -- several clouds in one run -------------------------------------------------------------------------


def test_provider_is_optional_in_action_yml():
    assert action_inputs()["provider"].get("required") in (False, None)


def test_aws_and_azure_functions_deploy_in_one_run_with_step_inputs_for_each(aws_action, workspace, aws_role, lambda_proxy,
                                                                            function_name):
    write_python_app(workspace / "aws")
    (workspace / "az").mkdir()
    (workspace / "az" / "host.json").write_text('{"version": "2.0"}')
    (workspace / "az" / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    (workspace / "faas.yml").write_text(
        "functions:\n"
        f"  - provider: aws\n    function-name: {function_name}\n    source: aws\n    runtime: python3.12\n"
        f"    handler: app.handler\n    role: {aws_role}\n"
        "  - provider: azure\n    function-name: qa-az-app\n    source: az\n"
    )
    with FakeAzure() as azure:
        azure.add_site("qa-az-app", sku="FlexConsumption")
        result = aws_action.run(
            {"config": "faas.yml", "alias": "live", "resource-group": RESOURCE_GROUP, "subscription-id": SUBSCRIPTION,
             "azure-access-token": AZURE_TOKEN, "wait-timeout": "30"},
            env=azure.env(), timeout=RUN_DEADLINE_S)
        published = azure.calls("POST", "/api/publish", service="kudu")
    assert_well_behaved(result, 0, errors=0)
    entries = results_of(result)
    assert [(e["function-name"], e["provider"], e["status"]) for e in entries] == [
        (function_name, "aws", "deployed"), ("qa-az-app", "azure", "deployed")]
    assert len(published) == 1
    alias = boto_client("lambda", lambda_proxy.url).get_alias(FunctionName=function_name, Name="live")
    assert alias["FunctionVersion"] == entries[0]["version"]


def test_a_function_without_its_own_provider_takes_the_steps(aws_action, workspace, aws_role, lambda_proxy, function_name,
                                                             gcp_fake):
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        "source: app\nfunctions:\n"
        f"  - function-name: {function_name}\n    runtime: python3.12\n    handler: app.handler\n    role: {aws_role}\n"
        "  - provider: gcp\n    function-name: hello\n    region: us-central1\n    project: proj-1\n"
        "    runtime: python312\n    entry-point: hello\n"
    )
    result = aws_action.run({"config": "faas.yml", "provider": "aws", "dry-run": "true", "gcp-access-token": GCP_TOKEN},
                            env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert [(e["function-name"], e["provider"]) for e in results_of(result)] == [(function_name, "aws"), ("hello", "gcp")]
    assert [p["provider"] for p in json.loads(result.outputs["plan"])] == ["aws", "gcp"]


def test_a_step_input_for_no_provider_of_the_run_is_still_an_error(aws_action, workspace, aws_role, lambda_proxy):
    write_python_app(workspace / "app")
    (workspace / "app" / "host.json").write_text("{}")
    (workspace / "faas.yml").write_text(
        "source: app\nfunctions:\n  - provider: aws\n    function-name: qa-a\n"
        f"  - provider: azure\n    function-name: qa-b\n    resource-group: {RESOURCE_GROUP}\n"
        f"    subscription-id: {SUBSCRIPTION}\n"
    )
    result = aws_action.run({"config": "faas.yml", "entry-point": "main", "azure-access-token": AZURE_TOKEN},
                            timeout=RUN_DEADLINE_S)
    assert result.code == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.errors and all("entry-point" in e for e in result.errors), result.errors
    assert lambda_proxy.requests == []


ISSUE_11_CONNECT = ("issue 11: 'The run's exit code is 1 when any function failed, with one `::error` per failed function "
                    "naming it' and `results` 'status (`deployed`, `unchanged`, `failed`, `skipped`) ... and `error` for a "
                    "failure'; when one function of a mixed run has no credentials, main._run's connect loop raises "
                    "CredentialsError for the whole run: the ::error does not name the function and its results entry "
                    "says `skipped` with no `error`")


def test_a_function_without_credentials_is_failed_and_named(aws_action, workspace, aws_role, lambda_proxy, function_name,
                                                           gcp_fake):
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        "source: app\nfunctions:\n"
        f"  - provider: aws\n    function-name: {function_name}\n    runtime: python3.12\n    handler: app.handler\n"
        f"    role: {aws_role}\n"
        "  - provider: gcp\n    function-name: hello\n    region: us-central1\n    project: proj-1\n    runtime: python312\n"
    )
    result = aws_action.run({"config": "faas.yml", "dry-run": "true"},
                            env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "hello" in result.errors[0]
    statuses = {e["function-name"]: (e["status"], bool(e.get("error"))) for e in results_of(result)}
    assert statuses["hello"] == ("failed", True), statuses


# -- README: the monorepo and multi-cloud examples -----------------------------------------------------


def readme_yaml_blocks() -> list[dict]:
    text = (ROOT / "README.md").read_text()
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def steps_using_the_action(workflow: dict) -> list[tuple[str, dict, dict]]:
    found = []
    for job_name, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("faas-action/faas-action@"):
                found.append((job_name, job, step.get("with") or {}))
    return found


def test_readme_shows_a_plan_job_and_a_deploy_job_fanned_out_over_its_matrix():
    workflows = [b for b in readme_yaml_blocks() if isinstance(b, dict) and "jobs" in b]
    fanned = []
    for workflow in workflows:
        steps = steps_using_the_action(workflow)
        plans = [(j, s) for j, _, s in steps if str(s.get("dry-run")).lower() == "true"]
        deploys = [(j, job, s) for j, job, s in steps if "matrix.function-name" in str(s.get("select", ""))]
        if plans and deploys:
            fanned.append((workflow, plans, deploys))
    assert fanned, "no README workflow with a dry-run plan job and a matrix deploy job"
    workflow, plans, deploys = fanned[0]
    plan_job = workflow["jobs"][plans[0][0]]
    _, deploy_job, _ = deploys[0]
    assert "matrix" in str(plan_job.get("outputs")) and "changed" in str(plan_job.get("outputs"))
    assert "fromJSON" in str(deploy_job["strategy"]["matrix"])
    assert "changed" in str(deploy_job.get("if", "")), "GitHub refuses an empty matrix: the job must be skipped"


def test_readme_says_what_the_matrix_and_one_job_cost():
    text = (ROOT / "README.md").read_text()
    assert "runner minutes" in text and "wall time" in text
    assert re.search(r"max-parallel: \d+", text)


def test_readme_multi_cloud_config_keeps_credentials_out_of_the_file():
    configs = [b for b in readme_yaml_blocks() if isinstance(b, dict) and "functions" in b]
    mixed = [c for c in configs if len({f.get("provider") for f in c["functions"]} - {None}) > 1]
    assert mixed, "no multi-cloud config in the README"
    secret_keys = {"azure-access-token", "gcp-access-token", "client-id", "tenant-id"}
    for config in mixed:
        keys = set(config) | {k for f in config["functions"] for k in f}
        assert not keys & secret_keys, keys & secret_keys


def test_benchmarks_report_the_many_functions_figures_with_their_command():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert re.search(r"\b8 functions\b", text) and re.search(r"\b32 functions\b", text)
    assert "bench/" in text or "make bench" in text


def test_cancellation_during_a_dependency_install_ends_the_run_promptly(aws_action, workspace, aws_role, lambda_proxy):
    from tests.fakes.network import Blackhole

    names = names_for(2)
    write_config(workspace, aws_role, names, top="dependencies: requirements.txt")
    (workspace / "app" / "requirements.txt").write_text("hello-dep\n")
    with Blackhole() as index:  # an index that never answers: the install runs until it is stopped
        running = aws_action.start({"config": "faas.yml", "wait-timeout": "120"},
                                   env={"UV_INDEX_URL": f"{index.url}/simple", "UV_NO_CONFIG": "1",
                                        "UV_PYTHON_DOWNLOADS": "never"})
        running.wait_for("Dependencies of", timeout=60)
        time.sleep(0.5)
        running.signal(signal.SIGTERM)
        try:
            # A cancelled step gets SIGINT, then SIGTERM, then is killed, within about ten seconds.
            result = running.finish(timeout=12)
        except Exception as exc:  # still installing: what the runner would kill
            raise AssertionError("the run was still going 12 s after SIGTERM") from exc
    assert result.code == 1 and "Traceback" not in result.stdout + result.stderr
    assert any("cancel" in e for e in result.errors), result.errors
    assert result.summary.strip()
    assert lambda_proxy.requests == []


def test_a_name_deployed_to_two_regions_is_one_matrix_job_that_deploys_both(aws_action, workspace, aws_role, lambda_proxy):
    """`select` picks functions by name: a name in two regions is one matrix entry (never two jobs
    deploying the same two functions side by side), and its job deploys both."""
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        f"provider: aws\nsource: app\nruntime: python3.12\nhandler: app.handler\nrole: {aws_role}\nfunctions:\n"
        "  - function-name: qa11-twin\n    region: us-east-1\n  - function-name: qa11-twin\n    region: us-west-2\n"
    )
    plan = aws_action.run({"config": "faas.yml", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(plan, 0, errors=0)
    include = json.loads(plan.outputs["matrix"])["include"]
    assert include == [{"function-name": "qa11-twin"}]
    job = aws_action.run({"config": "faas.yml", "select": "qa11-twin", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert len(results_of(job)) == 2
