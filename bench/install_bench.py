"""Image figures: installing the runtime dependencies from the lock with uv and with pip, their
installed size, and what precompiled bytecode saves when the SDKs are imported.

Owns: exporting the runtime requirements from uv.lock (hashes included, no dev group), fresh
virtual environments under bench/out/install, cold installs (no cache, from the package index,
as a Docker build does) and import timings of each provider module.
Must not: touch the project's own .venv, or read any pip/uv configuration of this machine (the
installs run with configuration files disabled so both tools fetch from the same index).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from common import OUT, ROOT, Series, fmt, run, table, timed

PROVIDERS = {
    "aws (botocore)": "faas_action.providers.aws",
    "azure (azure-mgmt-web, azure-core)": "faas_action.providers.azure",
    "gcp (google-auth, REST)": "faas_action.providers.gcp",
}
IMPORT_SCRIPT = """
import json, sys, time
start = time.perf_counter()
import {module}
print(json.dumps(time.perf_counter() - start))
"""


def base_python() -> str:
    """The interpreter the project's venv was made from (a venv of a venv would chain)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def clean_env(**extra: str) -> dict[str, str]:
    """No pip or uv configuration: both tools use PyPI directly, with no local wheel folders."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHON"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env.update(extra)
    return env


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def requirements(scratch: Path) -> Path:
    path = scratch / "requirements.txt"
    run(["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt", "--output-file", str(path)],
        timeout=120, cwd=ROOT, env=clean_env())
    return path


def fresh_venv(path: Path, with_pip: bool) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    if with_pip:
        run([base_python(), "-m", "venv", str(path)], timeout=300, env=clean_env())
    else:
        run(["uv", "venv", "--python", base_python(), str(path)], timeout=300, env=clean_env())
    return path


def import_seconds(venv: Path, module: str) -> float:
    """Import one provider module in a fresh interpreter that may not write bytecode (as in the
    image: PYTHONDONTWRITEBYTECODE=1), so missing .pyc files are compiled on every run."""
    env = clean_env(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT))
    proc = run([str(venv / "bin" / "python"), "-c", IMPORT_SCRIPT.format(module=module)], timeout=300, env=env)
    return float(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(rounds: int, log: Callable[[str], None]) -> str:
    scratch = OUT / "install"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    reqs = requirements(scratch)
    count = sum(1 for line in reqs.read_text().splitlines() if "==" in line and not line.startswith((" ", "#")))
    installs = {name: Series() for name in ("uv", "uv-bytecode", "pip")}
    sizes: dict[str, int] = {}

    def install(name: str) -> float:
        venv = fresh_venv(scratch / name, with_pip=name == "pip")
        before = tree_size(site_packages(venv))  # pip's own files, in pip's venv
        if name == "pip":
            command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", "--quiet", "-r", str(reqs)]
        else:
            command = ["uv", "pip", "install", "--no-cache", "--quiet", "--python", str(venv / "bin" / "python"), "-r", str(reqs)]
            if name == "uv-bytecode":
                command.append("--compile-bytecode")
        seconds = timed(lambda: run(command, timeout=1800, env=clean_env()))
        sizes[name] = tree_size(site_packages(venv)) - before
        return seconds

    for index in range(rounds):
        names = list(installs) if index % 2 == 0 else list(installs)[::-1]
        for name in names:
            installs[name].record(lambda n=name: install(n))
        log(f"install round {index + 1}/{rounds}: " + ", ".join(f"{n} {s.values[-1]:.1f}s" for n, s in installs.items() if s.values))

    imports = {(label, compiled): Series() for label in PROVIDERS for compiled in (False, True)}
    for venv_name, compiled in (("uv", False), ("uv-bytecode", True)):
        venv = scratch / venv_name
        if not (venv / "bin" / "python").exists():
            continue
        for label, module in PROVIDERS.items():
            import_seconds(venv, module)  # warm the page cache
            for _ in range(rounds):
                imports[(label, compiled)].record(lambda v=venv, m=module: import_seconds(v, m))
    all_three = {compiled: sum(imports[(label, compiled)].median or 0 for label in PROVIDERS) for compiled in (False, True)}

    install_rows = [
        [f"uv pip install, no cache ({count} packages)", fmt(installs["uv"].median, 1), fmt(sizes.get("uv", 0) / 1e6, 0), "no"],
        ["uv pip install --compile-bytecode, no cache", fmt(installs["uv-bytecode"].median, 1), fmt(sizes.get("uv-bytecode", 0) / 1e6, 0), "yes"],
        ["pip install, no cache (pip compiles bytecode by default)", fmt(installs["pip"].median, 1), fmt(sizes.get("pip", 0) / 1e6, 0), "yes"],
    ]
    import_rows = [
        [label, fmt(imports[(label, False)].median, 2), fmt(imports[(label, True)].median, 2)] for label in PROVIDERS
    ] + [["all three, summed", fmt(all_three[False], 2), fmt(all_three[True], 2)]]
    failed = [f"- {name}: {len(s.failures)} failed round(s), first: {s.failures[0]}" for name, s in installs.items() if s.failures]
    failed += [f"- import {label} ({'bytecode' if c else 'source'}): {s.failures[0]}" for (label, c), s in imports.items() if s.failures]
    return "\n".join([
        table(["runtime dependencies into a fresh venv (from uv.lock, with hashes)", "s (median)", "installed MB", "bytecode"], install_rows),
        "",
        table(["import of the provider module (fresh interpreter, PYTHONDONTWRITEBYTECODE=1)", "no .pyc: s", "precompiled: s"], import_rows),
        *failed,
    ])
