"""QA sweep of issue 11 (a `functions:` list deployed side by side) and the non-packaging items of
issue 10 (hostile config, secrets, workflow commands), run as the runner runs the action:
entrypoint.py in a subprocess. Most cases are refused before any call, so the AWS endpoint is a
port where nothing listens: a request would show as a retry in the log, and the run would not
end at once.
"""

from __future__ import annotations

import json
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
