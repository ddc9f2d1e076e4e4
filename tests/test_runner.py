"""The runner contract: input names, outputs in heredoc form, masks and annotations."""

from __future__ import annotations

import io

from faas_action.runner import Runner, input_env_name
from tests.harness import parse_github_output


def test_input_env_names_keep_hyphens():
    assert input_env_name("function-name") == "INPUT_FUNCTION-NAME"
    assert input_env_name("my input") == "INPUT_MY_INPUT"


def test_inputs_are_trimmed_and_default_to_empty():
    runner = Runner({"INPUT_FUNCTION-NAME": "  fn \n"}, io.StringIO())
    assert runner.input("function-name") == "fn"
    assert runner.input("memory") == ""


def test_outputs_round_trip_through_the_runner_format(tmp_path):
    path = tmp_path / "out"
    path.write_text("")
    runner = Runner({"GITHUB_OUTPUT": str(path)}, io.StringIO())
    runner.set_output("plan", '{"a": 1}\nsecond line')
    runner.set_output("empty", "")
    runner.set_output("equals", "a=b<<c")
    assert parse_github_output(path.read_text()) == {"plan": '{"a": 1}\nsecond line', "empty": "", "equals": "a=b<<c"}


def test_annotations_are_escaped_and_masks_are_issued_once():
    out = io.StringIO()
    runner = Runner({}, out)
    runner.mask("s3cret\nline2")
    runner.mask("s3cret")
    runner.mask("x")  # too short to mask usefully
    runner.error("bad: 100%\nnext", title="faas-action: invalid, input")
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["::add-mask::s3cret%0Aline2", "::add-mask::s3cret", "::add-mask::line2"]
    assert len([ln for ln in lines if ln.startswith("::add-mask::")]) == 3
    assert lines[-1] == "::error title=faas-action%3A invalid%2C input::bad: 100%25%0Anext"


def test_summary_appends(tmp_path):
    path = tmp_path / "summary"
    runner = Runner({"GITHUB_STEP_SUMMARY": str(path)}, io.StringIO())
    runner.add_summary("| a |")
    runner.add_summary("| b |\n")
    assert path.read_text() == "| a |\n| b |\n"
