"""README, the package and action.yml agree: README's inputs/outputs tables and
faas_action/inputs.py (the inputs and their defaults, read on every run) are generated from action.yml.

Run `python tests/test_docs.py` to rewrite both after changing action.yml.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INPUTS_MODULE = ROOT / "faas_action" / "inputs.py"
MARKERS = {
    "inputs": ("<!-- inputs:start -->", "<!-- inputs:end -->"),
    "outputs": ("<!-- outputs:start -->", "<!-- outputs:end -->"),
}


def action_yml() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text())


def tables() -> dict[str, str]:
    action = action_yml()
    inputs = ["| input | required | default | description |", "|---|---|---|---|"]
    for name, decl in action["inputs"].items():
        default = decl.get("default", "")
        inputs.append(
            f"| `{name}` | {'yes' if decl.get('required') else 'no'} | "
            f"{f'`{default}`' if default != '' else ''} | {decl['description'].replace('|', '&#124;')} |"
        )
    outputs = ["| output | description |", "|---|---|"]
    for name, decl in action["outputs"].items():
        outputs.append(f"| `{name}` | {decl['description'].replace('|', '&#124;')} |")
    return {"inputs": "\n".join(inputs), "outputs": "\n".join(outputs)}


def inputs_module() -> str:
    """faas_action/inputs.py as action.yml says it must be."""
    action = action_yml()
    lines = [f"    {name!r}: {str(decl.get('default', ''))!r}," for name, decl in action["inputs"].items()]
    return (
        '"""Every input action.yml declares, with its default (\'\' when none), in declaration order.\n\n'
        "Generated from action.yml by `python tests/test_docs.py`, which a test runs to check it: do not\n"
        "edit. config/ reads this on every run instead of action.yml, sparing each run a YAML parser's\n"
        'import and parse (~15 ms of a ~0.25 s no-op deploy).\n"""\n\n'
        "DEFAULTS: dict[str, str] = {\n" + "\n".join(lines) + "\n}\n"
    )


def section(text: str, key: str) -> str:
    start, end = MARKERS[key]
    match = re.search(re.escape(start) + r"\n(.*?)\n?" + re.escape(end), text, re.S)
    assert match, f"README.md lacks the {key} markers"
    return match.group(1)


def test_readme_tables_match_action_yml():
    text = README.read_text()
    for key, table in tables().items():
        assert section(text, key) == table, f"README {key} table is stale: run python tests/test_docs.py"


def test_inputs_module_matches_action_yml():
    assert INPUTS_MODULE.read_text() == inputs_module(), "faas_action/inputs.py is stale: run python tests/test_docs.py"


def test_action_yml_inputs_are_well_formed():
    action = action_yml()
    for name, decl in action["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name), name
        assert decl.get("description"), name
        if "default" in decl:
            assert isinstance(decl["default"], str), f"{name}: defaults must be quoted strings"


def test_readme_names_the_two_setup_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def rewrite() -> None:
    text = README.read_text()
    for key, table in tables().items():
        start, end = MARKERS[key]
        text = re.sub(re.escape(start) + r"\n.*?\n?" + re.escape(end), lambda _: f"{start}\n{table}\n{end}", text, flags=re.S)
    README.write_text(text)
    INPUTS_MODULE.write_text(inputs_module())


if __name__ == "__main__":
    rewrite()
    sys.exit(0)
