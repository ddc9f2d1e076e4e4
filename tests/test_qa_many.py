"""QA sweep of issue 11 (a `functions:` list deployed side by side) and the non-packaging items of
issue 10 (hostile config, secrets, workflow commands), run as the runner runs the action:
entrypoint.py in a subprocess. Most cases are refused before any call, so the AWS endpoint is a
port where nothing listens: a request would show as a retry in the log, and the run would not
end at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qa_checks import assert_well_behaved, results_of, write_python_app

pytestmark = pytest.mark.timeout(120)

RUN_DEADLINE_S = 60
ROLE = "arn:aws:iam::123456789012:role/qa-many-exec"
# GitHub drops a step summary over 1 MiB altogether ("upload aborted"), and refuses an output
# value over 1 MB.
GITHUB_SUMMARY_LIMIT = 1024 * 1024
GITHUB_OUTPUT_LIMIT = 1_000_000
NOWHERE = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-key", "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}


@pytest.fixture
def offline(action):
    action.base_env.update(NOWHERE)
    return action


def write_config(workspace: Path, body: str) -> None:
    write_python_app(workspace / "app")
    top = f"provider: aws\nsource: app\nruntime: python3.12\nhandler: app.handler\nrole: {ROLE}\n"
    (workspace / "faas.yml").write_text(top + body)


TWO = "functions:\n  - function-name: api\n  - function-name: worker\n"


# -- select ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("step", "top"), [(" , ", ""), ("\n,\n", ""), ("", "select: []\n"), ("", "select: ','\n")])
def test_a_select_that_names_no_function_is_an_input_error(offline, workspace, step, top):
    """Before: the run selected nothing, deployed nothing, wrote no output and no summary, and
    exited 0, as if every function had been deployed."""
    write_config(workspace, top + TWO)
    result = offline.run({"config": "faas.yml", "dry-run": "true", **({"select": step} if step else {})},
                         timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "select" in result.errors[0]
    assert result.summary.strip()


@pytest.mark.parametrize("value", ["1_0", "\u0664", "4.0", "0", "33", "abc", "0x4"])
def test_max_parallel_takes_only_a_plain_whole_number_from_1_to_32(offline, workspace, value):
    """Before: "1_0" ran as 10 and the Arabic-Indic digit four as 4 (Python's int() takes both)."""
    write_config(workspace, TWO)
    result = offline.run({"config": "faas.yml", "dry-run": "true", "max-parallel": value}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "max-parallel" in result.errors[0]


# -- GitHub's size limits: the summary and the outputs stay usable ----------------------------------


def test_many_functions_with_long_error_texts_keep_the_summary_and_results_within_githubs_limits(offline, workspace):
    """150 functions whose (invalid) name is 10,000 characters long, written once and aliased:
    every error echoes it. Before: a 9 MB summary (GitHub drops it whole) and a 3 MB `results`."""
    long_name = "bad!" + "x" * 10_000
    body = f"functions:\n  - function-name: &n \"{long_name}\"\n" + "  - function-name: *n\n" * 149
    write_config(workspace, body)
    result = offline.run({"config": "faas.yml", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=150)
    assert len(result.summary.encode()) < GITHUB_SUMMARY_LIMIT
    assert len(result.outputs["results"].encode()) < GITHUB_OUTPUT_LIMIT
    entries = results_of(result)
    assert len(entries) == 150 and all(e["status"] == "failed" and e["error"] for e in entries)
    assert "characters more" in entries[0]["error"]
    assert long_name in result.stdout, "the log keeps the whole text"


def test_a_summary_too_big_for_github_is_cut_with_a_note_not_dropped(offline, workspace):
    """1,000 functions with a dozen bad values each (short texts, many of them): whatever makes it
    big, the summary written stays under GitHub's limit, its table of functions included.
    Before: a 1.8 MB summary (GitHub drops it whole), its table after 12,000 listed errors."""
    bad = ("memory: 1, timeout: 0, ephemeral-storage: 1, tracing: bogus, architectures: bogus, log-format: bogus, "
           "reserved-concurrency: -5, snap-start: bogus, environment-mode: bogus, wait-timeout: 0, publish: maybe, "
           "force: maybe")
    body = f"functions:\n  - &bad {{function-name: f0000, {bad}}}\n"
    body += "".join(f"  - {{<<: *bad, function-name: f{i:04d}}}\n" for i in range(1, 1000))
    write_config(workspace, body)
    result = offline.run({"config": "faas.yml", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1)
    assert len(result.summary.encode()) < GITHUB_SUMMARY_LIMIT
    assert "| `f0000` |" in result.summary, "the table of functions comes first"
    assert "more: every one is in the log" in result.summary


def test_the_runner_cuts_a_summary_over_githubs_limit_at_a_line_with_a_note(tmp_path):
    from faas_action.runner import Runner

    summary = tmp_path / "summary"
    summary.write_text("")
    runner = Runner({"GITHUB_STEP_SUMMARY": str(summary)}, stdout=open(tmp_path / "log", "w"))
    runner.add_summary("| row | é |\n" * 200_000)
    text = summary.read_text(encoding="utf-8")
    assert len(text.encode()) < GITHUB_SUMMARY_LIMIT
    assert "summary was cut" in text
    assert all(line == "| row | é |" for line in text.split("\n\n> ")[0].splitlines())


# -- keys the config does not know ------------------------------------------------------------------


def test_a_misspelled_key_in_one_function_fails_that_function_in_results(offline, workspace):
    """Before: the error named functions[1], but `results` listed that function as `skipped`,
    with no error, like the ones that were fine."""
    write_config(workspace, "functions:\n  - function-name: api\n  - function-name: worker\n    timout: 3\n")
    result = offline.run({"config": "faas.yml", "dry-run": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "unknown key 'timout'" in result.errors[0] and "functions[1]" in result.errors[0]
    api, worker = results_of(result)
    assert (api["status"], worker["status"]) == ("skipped", "failed")
    assert "timout" in worker["error"] and "error" not in api


def test_a_misspelled_key_in_a_function_left_out_by_select_is_still_an_error(offline, workspace):
    write_config(workspace, "functions:\n  - function-name: api\n  - function-name: worker\n    timout: 3\n")
    result = offline.run({"config": "faas.yml", "dry-run": "true", "select": "api"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "timout" in result.errors[0]
