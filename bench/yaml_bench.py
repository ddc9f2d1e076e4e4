#!/usr/bin/env python3
"""Parsing user YAML: the bounded loader (faas_action.yamlsafe) against PyYAML's yaml.safe_load.

    .venv/bin/python bench/yaml_bench.py [--rounds 5]

Three inputs, the contenders interleaved in every round, medians reported in Markdown:
a small real config (20 functions), the largest config accepted (just under 1 MiB), and a
341-byte "billion laughs" document (yamlsafe refuses it; safe_load only composes it here:
PyYAML builds the shared lists quickly, the cost came when the action walked the expansion,
64 s in issue 10, so safe_load's figure is a lower bound of what the action used to spend).

Owns: this one measurement. Must not: assert anything (tests do).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401  (puts the project root on sys.path)
from common import Series, fmt, ratio, table, timed  # noqa: E402

import yaml  # noqa: E402

from faas_action import yamlsafe  # noqa: E402


def small_config() -> str:
    return "provider: aws\nregion: eu-west-1\nfunctions:\n" + "".join(
        f"  - function-name: fn{i}\n    memory: 256\n    environment:\n      STAGE: prod\n" for i in range(20)
    )


def largest_config() -> str:
    lines, size, index = ["functions:"], 11, 0
    while True:
        entry = f"  - function-name: fn-{index}\n    provider: aws\n    environment:\n      KEY_{index}: value-{index}\n"
        if size + len(entry) >= (1 << 20) - 1:
            return "\n".join(lines) + "\n"
        lines.append(entry.rstrip("\n"))
        size += len(entry)
        index += 1


def billion_laughs() -> str:
    return "\n".join(
        ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    )


def bounded(text: str) -> None:
    try:
        yamlsafe.load(text)
    except yamlsafe.YamlError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    cases = {"small config": small_config(), "1 MiB config": largest_config(), "billion laughs": billion_laughs()}
    rows = []
    for name, text in cases.items():
        ours, theirs = Series(), Series()
        for _ in range(rounds):
            ours.record(lambda: timed(lambda: bounded(text)))
            theirs.record(lambda: timed(lambda: yaml.safe_load(text)))
        rows.append([name, f"{len(text.encode()):,} B", fmt(theirs.median and theirs.median * 1000, 2, " ms"),
                     fmt(ours.median and ours.median * 1000, 2, " ms"), ratio(ours.median, theirs.median)])
    print(table(["input", "size", "yaml.safe_load", "yamlsafe.load", "ratio"], rows))


if __name__ == "__main__":
    main()
