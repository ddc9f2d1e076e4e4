"""Hostile config files and mapping inputs: each is one clear input problem, found at once.

Every case runs `config.load` in a worker thread with a deadline, so a case that would hang
(a FIFO, a YAML bomb) fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from faas_action import config

AWS = {"provider": "aws", "function-name": "fn", "region": "eu-west-1", "source": "src"}
DEADLINE_S = 20.0


def step(inputs: dict[str, str]) -> dict[str, str]:
    values = dict(config.input_defaults())
    values.update(inputs)
    return values


def load_within_deadline(inputs: dict[str, str], workspace: Path, environ=None, release=None) -> config.Config:
    """config.load in a thread; fails (and calls `release` to unblock it) past the deadline."""
    outcome: dict = {}

    def work():
        try:
            outcome["config"] = config.load(step(inputs), environ or {}, workspace)
        except BaseException as exc:  # reported in the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    if worker.is_alive():
        if release:
            release()
        pytest.fail(f"config.load did not finish within {DEADLINE_S} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["config"]


def messages(result: config.Config) -> list[str]:
    return [str(p) for p in result.problems]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    return tmp_path


# -- reading the file -------------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8_is_an_input_error(ws):
    (ws / "faas.yml").write_bytes(b"provider: aws\ndescription: caf\xe9\n")
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert any("faas.yml" in m and "UTF-8" in m and "offset 30" in m for m in messages(result)), messages(result)


def test_a_utf8_byte_order_mark_is_accepted(ws):
    (ws / "faas.yml").write_bytes("\ufeffmemory: 256\n".encode())
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert not result.problems, messages(result)
    assert result.specs[0].options.memory_mb == 256


def test_a_fifo_as_config_is_refused_without_blocking(ws):
    fifo = ws / "faas.yml"
    os.mkfifo(fifo)

    def release():  # a writer unblocks a reader stuck in open()
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)

    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws, release=release)
    assert any("faas.yml" in m and "not a regular file" in m for m in messages(result)), messages(result)


def _unix_socket(path: Path) -> None:
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


@pytest.mark.parametrize("make", [Path.mkdir, _unix_socket], ids=["directory", "socket"])
def test_other_non_regular_files_are_refused(ws, make):
    make(ws / "faas.yml")
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert any("faas.yml" in m and "not a regular file" in m for m in messages(result)), messages(result)


def test_a_config_file_over_the_size_limit_is_refused_unread(ws):
    (ws / "faas.yml").write_text("# padding\n" * (config.CONFIG_MAX_BYTES // 10 + 1))
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert any("faas.yml" in m and "larger than" in m for m in messages(result)), messages(result)


# -- what YAML may expand to --------------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    ["provider: aws", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    + ["environment:", "  BOMB: *i"]
)


def test_a_yaml_bomb_is_refused_at_once(ws):
    assert len(BILLION_LAUGHS.encode()) < 400
    (ws / "faas.yml").write_text(BILLION_LAUGHS)
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert any("faas.yml" in m and "expands" in m for m in messages(result)), messages(result)
    assert all(len(s) < 1000 for s in result.secrets)


def test_a_yaml_bomb_in_a_mapping_input_is_refused(ws):
    result = load_within_deadline({**AWS, "environment": BILLION_LAUGHS.replace("provider: aws\n", "")}, ws)
    assert any(m.startswith("environment:") and "expands" in m for m in messages(result)), messages(result)
    assert all(len(s) < 1000 for s in result.secrets)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_yaml_nested_deeper_than_any_config_is_an_input_error(ws, style):
    depth = 3000
    if style == "flow":
        text = "provider: aws\nenvironment: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "provider: aws\nenvironment:\n  " + "- " * depth + "x\n"  # compact nested block sequences
    (ws / "faas.yml").write_text(text)
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert any("faas.yml" in m and "nested deeper" in m for m in messages(result)), messages(result)


def test_a_recursive_alias_is_refused(ws):
    (ws / "faas.yml").write_text("provider: aws\nenvironment: &e\n  SELF: *e\n")
    result = load_within_deadline({**AWS, "config": "faas.yml"}, ws)
    assert any("faas.yml" in m and "recursive" in m for m in messages(result)), messages(result)


def test_anchors_and_merge_keys_of_a_real_config_still_work(ws):
    (ws / "faas.yml").write_text(
        "provider: aws\nregion: eu-west-1\nsource: src\nfunctions:\n"
        "  - &one\n    function-name: one\n    memory: 256\n    environment: &env\n      A: '1'\n      B: '2'\n"
        "  - <<: *one\n    function-name: two\n    environment:\n      <<: *env\n      B: '3'\n"
    )
    result = load_within_deadline({"config": "faas.yml"}, ws)
    assert not result.problems, messages(result)
    one, two = result.specs
    assert (one.name, two.name, two.options.memory_mb) == ("one", "two", 256)
    assert dict(two.environment) == {"A": "1", "B": "3"}


# -- duplicates: never "last one wins" ----------------------------------------------------------


@pytest.mark.parametrize("name", ["environment", "tags"])
def test_the_same_key_twice_in_key_value_lines_names_both_lines(ws, name):
    result = load_within_deadline({**AWS, name: "A=1\nB=2\n\nA=3"}, ws)
    assert any(m.startswith(f"{name}:") and "'A'" in m and "line 1" in m and "line 4" in m for m in messages(result)), messages(result)


@pytest.mark.parametrize("name", ["environment", "labels", "secrets", "build-environment"])
def test_the_same_key_twice_in_a_yaml_mapping_input_names_both_lines(ws, name):
    gcp = {"provider": "gcp", "function-name": "fn", "region": "us-central1", "project": "my-project-1", "source": "src"}
    value = "a: projects/p/secrets/s\nb: projects/p/secrets/t\na: projects/p/secrets/u"
    result = load_within_deadline({**gcp, name: value}, ws)
    assert any(m.startswith(f"{name}:") and "'a'" in m and "line 1" in m and "line 3" in m for m in messages(result)), messages(result)


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ("provider: aws\nmemory: 128\nmemory: 256\n", ("line 2", "line 3")),
        ("provider: aws\nenvironment:\n  A: 1\n  B: 2\n  A: 3\n", ("line 3", "line 5")),
        ("provider: aws\nfunctions:\n  - function-name: one\n    function-name: two\n", ("line 3", "line 4")),
    ],
)
def test_duplicate_keys_anywhere_in_the_config_file_name_both_places(ws, content, lines):
    (ws / "faas.yml").write_text(content)
    result = load_within_deadline({"config": "faas.yml", "region": "eu-west-1", "source": "src"}, ws)
    found = [m for m in messages(result) if "faas.yml" in m and "duplicate key" in m]
    assert found and all(line in found[0] for line in lines), messages(result)


def test_the_same_function_twice_in_functions_names_both_entries(ws):
    (ws / "faas.yml").write_text(
        "provider: aws\nsource: src\nfunctions:\n"
        "  - function-name: one\n    region: eu-west-1\n"
        "  - function-name: one\n    region: us-east-1\n"  # another region: another function
        "  - function-name: two\n    region: eu-west-1\n"
        "  - function-name: arn:aws:lambda:eu-west-1:123456789012:function:one\n    region: eu-west-1\n"
    )
    result = load_within_deadline({"config": "faas.yml"}, ws)
    found = [m for m in messages(result) if "functions[3]" in m]
    assert len(found) == 1 and "functions[0]" in found[0], messages(result)
    assert len(result.problems) == 1


def test_the_same_azure_or_gcp_function_twice_is_refused(ws):
    (ws / "faas.yml").write_text(
        "source: src\nfunctions:\n"
        "  - {provider: azure, function-name: My-App, resource-group: rg, subscription-id: 00000000-0000-0000-0000-000000000000}\n"
        "  - {provider: azure, function-name: my-app, resource-group: RG, subscription-id: 00000000-0000-0000-0000-000000000000}\n"
        "  - {provider: azure, function-name: my-app, resource-group: rg, slot: staging, subscription-id: 00000000-0000-0000-0000-000000000000}\n"
        "  - {provider: gcp, function-name: fn, region: us-central1, project: my-project-1}\n"
        "  - {provider: gcp, function-name: fn, region: us-central1, project: my-project-1}\n"
    )
    result = load_within_deadline({"config": "faas.yml"}, ws)
    found = sorted(m for m in messages(result) if "same" in m)
    assert len(found) == 2, messages(result)
    assert "functions[1]" in found[0] and "functions[0]" in found[0]
    assert "functions[4]" in found[1] and "functions[3]" in found[1]
