"""Reading one function's raw input values: scalar parsers that record problems, mapping inputs.

Owns: how a raw value (a string from the step, or YAML from the config file) becomes a typed
value or a Problem; `KEY=VALUE` / YAML mapping inputs; which values are secrets to mask; the
word `none` that clears a setting.
Must not: know any provider's rules (config/aws.py and the others do), read files or print.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..errors import Problem

SECRET_INPUTS = ("azure-access-token", "gcp-access-token")
CLEAR = "none"  # the input value that removes a list or optional setting


class Fields:
    """Reads one function's merged raw values, recording problems instead of raising."""

    def __init__(self, raw: Mapping[str, Any], problems: list[Problem], label: str) -> None:
        self.raw = raw
        self.problems = problems
        self.label = label

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(name, f"{self.label}{message}"))

    def given(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is not None and value != "" and value != [] and value != {}

    def text(self, name: str, pattern: str | None = None, what: str = "") -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            self.problem(name, "expected a single value")
            return None
        value = str(value).strip()
        if pattern and not re.fullmatch(pattern, value):
            self.problem(name, f"{value!r} is not {what or 'valid'}")
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        self.problem(name, f"{value!r} must be one of: {', '.join(choices)}")
        return None

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if isinstance(value, bool):
            return value
        value = self.text(name)
        if value is None:
            return None
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        self.problem(name, f"{value!r} is not a boolean (true or false)")
        return None

    def integer(self, name: str, low: int, high: int, unit: str = "") -> int | None:
        value = self.text(name)
        if value is None:
            return None
        # ASCII digits only: int() would also take "1_0" and other scripts' digits ("٤").
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            self.problem(name, f"{value!r} is not a whole number{unit}")
            return None
        number = int(value)
        if not low <= number <= high:
            self.problem(name, f"{number} is outside {low}..{high}{unit}")
            return None
        return number

    def items(self, name: str, pattern: str | None = None, what: str = "") -> tuple[str, ...] | None:
        """A list from YAML, or from lines / commas in a string."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, dict):
            self.problem(name, "expected a list, got a mapping")
            return None
        parts = value if isinstance(value, list) else re.split(r"[\n,]", str(value))
        result = tuple(str(p).strip() for p in parts if str(p).strip())
        if pattern:
            bad = [p for p in result if not re.fullmatch(pattern, p)]
            for item in bad:
                self.problem(name, f"{item!r} is not {what or 'valid'}")
            if bad:
                return None
        return result

    def mapping(self, name: str, key_pattern: str = r"[^=\s]+", what: str = "a valid key") -> dict[str, str] | None:
        """A mapping from YAML, or from `KEY=VALUE` lines (or a YAML mapping in a string)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        parsed = parse_mapping(value)
        if isinstance(parsed, str):
            self.problem(name, parsed)
            return None
        bad = [k for k in parsed if not re.fullmatch(key_pattern, k)]
        for key in bad:
            self.problem(name, f"key {key!r} is not {what}")
        return parsed



    def cleared(self, name: str) -> bool:
        """Is the input the word `none` (remove the setting)? An empty input leaves it alone."""
        value = self.raw.get(name)
        return isinstance(value, str) and value.strip().lower() == CLEAR


def parse_mapping(value: Any) -> dict[str, str] | str:
    """`KEY=VALUE` lines or a YAML mapping → dict of strings; an error message (str) otherwise.
    A key given twice is an error naming both lines, never "the last one wins"."""
    if isinstance(value, dict):
        data: Any = value
    else:
        text = str(value)
        numbered = [(number, ln.strip()) for number, ln in enumerate(text.splitlines(), 1)]
        lines = [(number, ln) for number, ln in numbered if ln and not ln.startswith("#")]
        if lines and all(re.match(r"^[^=:\s]+=", ln) for _, ln in lines):
            return _key_value_lines(lines)
        from .. import yamlsafe  # here, not at the top: a run without YAML values never imports PyYAML

        try:
            data = yamlsafe.load(text)
        except yamlsafe.YamlError as exc:
            return f"expected KEY=VALUE lines or a YAML mapping ({exc})"
        if not isinstance(data, dict):
            return "expected KEY=VALUE lines or a YAML mapping"
    result: dict[str, str] = {}
    for key, item in data.items():
        if isinstance(item, (dict, list)):
            return f"value of {key!r} must be a single value, not a {type(item).__name__}"
        if isinstance(item, bool):
            item = "true" if item else "false"
        result[str(key)] = "" if item is None else str(item)
    return result


def _key_value_lines(lines: list[tuple[int, str]]) -> dict[str, str] | str:
    result: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in lines:
        key, item = line.split("=", 1)
        if key in first_line:
            return f"key {key!r} is given twice (line {first_line[key]} and line {number})"
        first_line[key] = number
        result[key] = item
    return result


def secret_values(raw: Mapping[str, Any]) -> list[str]:
    """Values to mask: tokens and every (build) environment value, however malformed the rest is."""
    secrets = [str(raw[name]) for name in SECRET_INPUTS if raw.get(name)]
    for env in (raw.get("environment"), raw.get("build-environment")):
        secrets.extend(_values_to_mask(env))
    return [s for s in secrets if s]


def _values_to_mask(mapping_input: Any) -> list[str]:
    """The values of a KEY=VALUE / YAML mapping input; for an unparseable one, each line's tail."""
    if not mapping_input:
        return []
    parsed = parse_mapping(mapping_input)
    if isinstance(parsed, dict):
        return [v for v in parsed.values() if v]
    return [line.split("=", 1)[-1].split(":", 1)[-1].strip() for line in str(mapping_input).splitlines()]
