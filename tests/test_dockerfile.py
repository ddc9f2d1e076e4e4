"""The Dockerfile keeps the runner's rules for a container action (reference: runner.md section 8)
and the image's promises: what Docker cannot check here, read from the file. hadolint (make lint)
checks the rest of its style.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"^\s*#.*\n", "", text, flags=re.M)
    text = re.sub(r"\\\n", " ", text)
    found = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, rest))
    return result


def test_two_stages_on_the_same_base_pinned_by_digest():
    bases = [rest.split()[0] for stage in stages() for keyword, rest in stage if keyword == "FROM"]
    assert len(bases) == 2
    assert bases[0] == bases[1], "the venv's python link needs the same interpreter in both stages"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", bases[0])


def test_final_stage_follows_the_runner_rules():
    final = stages()[-1]
    keywords = [keyword for keyword, _ in final]
    assert "WORKDIR" not in keywords  # the runner mounts the workspace over the working directory
    assert "USER" not in keywords  # the workspace needs root
    entrypoint = json.loads(next(rest for keyword, rest in final if keyword == "ENTRYPOINT"))
    assert entrypoint == ["/app/.venv/bin/python", "/app/entrypoint.py"]  # exec form, absolute, no -m
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env


def test_final_stage_gets_only_the_venv_and_our_code_and_drops_the_installers():
    final = stages()[-1]
    copies = [rest for keyword, rest in final if keyword in ("COPY", "ADD")]
    assert copies == ["--from=build /app /app"]
    build = stages()[0]
    copied_in = [rest for keyword, rest in build if keyword == "COPY"]
    assert copied_in == ["pyproject.toml uv.lock /app/", "entrypoint.py /app/", "faas_action /app/faas_action"]
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert "pip uninstall" in runs and all(tool in runs for tool in ("pip", "setuptools", "wheel"))
    assert "apt-get" not in runs  # no compiler or system package added


def test_dependencies_come_from_the_lock_without_dev_and_with_bytecode():
    runs = [rest for keyword, rest in stages()[0] if keyword == "RUN"]
    sync = next(r for r in runs if r.startswith("uv sync"))
    assert "--frozen" in sync and "--no-dev" in sync
    compiles = [r for stage in stages() for k, r in stage if k == "RUN" and "compileall" in r]
    assert any("/app/.venv" in r and "/app/faas_action" in r for r in compiles)
    assert any("/usr/local/lib/python3.11" in r for r in compiles)
    assert all("--invalidation-mode unchecked-hash" in r for r in compiles)
    bootstrap = next(r for r in runs if "uv==" in r)
    assert "--require-hashes" in bootstrap and len(re.findall(r"--hash=sha256:[0-9a-f]{64}", bootstrap)) == 2
