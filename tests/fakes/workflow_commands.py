"""What the GitHub runner would read as workflow commands in a step's output.

Written from the runner's public source (actions/runner `ActionCommandManager.TryProcessCommand`
and `ActionCommand.TryParseV2`/`TryParse`): the output is read line by line (`\\n`, `\\r` or
`\\r\\n` end a line); a line is a command when, after its leading whitespace, it starts with `::`
(`::name props::data`, `name` one the runner knows), or else when it holds the legacy form `##[name props]data` anywhere; after
`::stop-commands::TOKEN` nothing is a command until a line `::TOKEN::`.
Tests use it to assert that no printed value could start a command the action did not mean to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The commands the runner registers (a legacy `##[...]` line must name one of them).
REGISTERED = frozenset({
    "stop-commands", "set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
    "remove-matcher", "warning", "error", "notice", "debug", "group", "endgroup", "echo",
    "internal-set-repo-path",
})
LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class RunnerCommand:
    name: str
    properties: dict
    data: str


def _unescape(text: str, property_value: bool = False) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    if property_value:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%25", "%")


def _parse(line: str, registered: set[str]) -> RunnerCommand | None:
    stripped = line.lstrip()
    if stripped.startswith("::"):
        end = stripped.find("::", 2)
        if end >= 0:
            info = stripped[2:end]
            name, _, props = info.partition(" ")
            if name.lower() in registered:
                properties = {}
                for pair in filter(None, props.split(",")):
                    key, sep, value = pair.partition("=")
                    if sep:
                        properties[key] = _unescape(value, property_value=True)
                return RunnerCommand(name.lower(), properties, _unescape(stripped[end + 2:]))
    start = line.find("##[")
    if start >= 0:
        close = line.find("]", start)
        if close >= 0:
            name = line[start + 3:close].split(" ", 1)[0]
            if name.lower() in registered:
                return RunnerCommand(name.lower(), {}, _unescape(line[close + 1:]))
    return None


def commands(output: str) -> list[RunnerCommand]:
    """Every command the runner would process in `output`, in order (stop/resume included)."""
    registered = set(REGISTERED)
    found: list[RunnerCommand] = []
    stop_token: str | None = None
    for line in LINE_BREAK.split(output):
        command = _parse(line, registered)
        if command is None:
            continue
        if stop_token is not None:
            if command.name == stop_token.lower():
                found.append(command)
                registered.discard(stop_token.lower())
                stop_token = None
            continue
        if command.name == "stop-commands":
            stop_token = command.data
            registered.add(stop_token.lower())
        found.append(command)
    return found


def issued(output: str) -> list[RunnerCommand]:
    """The commands that act (stop-commands and its resume token left out)."""
    result = []
    tokens: set[str] = set()
    for command in commands(output):
        if command.name == "stop-commands":
            tokens.add(command.data.lower())
        elif command.name not in tokens:
            result.append(command)
    return result
