"""A function's package with 20 common dependencies (issue 15): the action's build (uv into the
package, then our packager) against `pip install -t` + `zip -r`, cold and with a warm cache.

    .venv/bin/python bench/dependencies_bench.py --rounds 3      # this part alone (prints the table)
    .venv/bin/python bench/run.py --only dependencies             # the same, through the runner

Both build for Lambda python3.12 on x86_64 (wheels only, manylinux_2_34) from PyPI, as a user's
workflow would: ours through `faas_action.dependencies.install` and `package.build` (the code the
action runs); pip with `--platform manylinux_2_34_x86_64` (and each older level) `--python-version 3.12
--only-binary=:all:` (AWS's recipe, widened to the same glibc), with its default bytecode
compilation, then Info-ZIP `zip -r -q -X`. "Cold" is an
empty cache, "warm" the cache of the previous cold install. Rounds interleave the contenders.
Owns: the requirement set, the scratch directories under bench/out/dependencies, the timings.
Must not: read any pip or uv configuration of this machine, or assert correctness (tests do).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, ROOT, Series, fmt, ratio, run, table  # noqa: E402

# Twenty dependencies a Python function commonly ships (boto3 is in Lambda's runtime already):
# web and validation, HTTP clients, data, databases, auth, and utilities.
REQUIREMENTS = """\
fastapi
mangum
pydantic
requests
httpx
sqlalchemy
psycopg[binary]
redis
numpy
pandas
jinja2
pyyaml
orjson
python-dateutil
cryptography
pyjwt
structlog
tenacity
aws-lambda-powertools
beautifulsoup4
"""
PYTHON, UV_PLATFORM, PIP_PLATFORM = "3.12", "x86_64-manylinux_2_34", "manylinux_2_34_x86_64"
# pip does not widen `--platform manylinux_2_34_x86_64` to the older glibc levels (numpy ships
# manylinux_2_28 wheels only): each level is named, newest first, so both pick the same wheels.
PIP_PLATFORMS = [arg for level in range(34, 16, -1) for arg in ("--platform", f"manylinux_2_{level}_x86_64")] + [
    "--platform", "manylinux2014_x86_64"]
APP = "def handler(event, context):\n    return 'ok'\n"


def clean_env(**extra: str) -> dict[str, str]:
    """No pip or uv configuration of this machine: both tools use PyPI directly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHON"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env.update(extra)
    return env


def pip_venv(scratch: Path) -> Path:
    """A venv with a current pip (what setup-python gives a workflow)."""
    venv = scratch / "pip-venv"
    if not (venv / "bin" / "pip").exists():
        base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        run([base, "-m", "venv", str(venv)], timeout=300, env=clean_env())
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], timeout=300, env=clean_env())
    return venv


def ours(source: Path, work: Path, cache: Path) -> tuple[float, float, int, int]:
    """The action's build: install (uv) + package; install s, total s, zip bytes, unzipped bytes."""
    from faas_action import dependencies, package
    from faas_action.models import DependencySpec

    spec = DependencySpec(source / "requirements.txt", PYTHON, UV_PLATFORM, cache=cache)
    shutil.rmtree(work, ignore_errors=True)
    (work / "install").mkdir(parents=True)
    start = time.perf_counter()
    installed = dependencies.install(spec, clean_env(), work / "install", default_cache=cache, timeout_s=900)
    installed_at = time.perf_counter()
    artifact = package.build(source, source, out_dir=work, dependencies=installed.root)
    end = time.perf_counter()
    return installed_at - start, end - start, artifact.size, artifact.unzipped_size


def pip_zip(source: Path, work: Path, cache: Path, venv: Path, compile_bytecode: bool = True) -> tuple[float, float, int, int]:
    """`pip install -t` (AWS's cross-platform recipe) + the source + `zip -r`."""
    shutil.rmtree(work, ignore_errors=True)
    target = work / "package"
    target.mkdir(parents=True)
    start = time.perf_counter()
    run([str(venv / "bin" / "pip"), "install", "--quiet", "--target", str(target), *PIP_PLATFORMS,
         "--python-version", PYTHON, "--implementation", "cp", "--only-binary=:all:", "--cache-dir", str(cache),
         *([] if compile_bytecode else ["--no-compile"]), "-r", str(source / "requirements.txt")], timeout=900, env=clean_env())
    installed_at = time.perf_counter()
    shutil.copy2(source / "app.py", target / "app.py")
    subprocess.run(["zip", "-r", "-q", "-X", str(work / "package.zip"), "."], cwd=target, check=True, timeout=900)
    end = time.perf_counter()
    unzipped = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return installed_at - start, end - start, (work / "package.zip").stat().st_size, unzipped


def measure(rounds: int, log: Callable[[str], None]) -> str:
    scratch = OUT / "dependencies"
    source = scratch / "src"
    source.mkdir(parents=True, exist_ok=True)
    (source / "requirements.txt").write_text(REQUIREMENTS)
    (source / "app.py").write_text(APP)
    venv = pip_venv(scratch)
    pip_version = run([str(venv / "bin" / "pip"), "--version"], timeout=60).stdout.split()[1]
    from faas_action import dependencies

    uv_version = run([dependencies.uv_binary(), "--version"], timeout=60).stdout.split()[1]
    tools = ("ours", "pip", "pip-no-compile")
    series = {f"{tool}-{state}": Series() for tool in tools for state in ("cold", "warm")}
    install_series = {name: Series() for name in series}
    sizes: dict[str, tuple[int, int]] = {}
    count = 0
    for round_number in range(rounds):
        caches = {tool: scratch / f"{tool}-cache-{round_number}" for tool in tools}
        for cache in caches.values():
            shutil.rmtree(cache, ignore_errors=True)
        # Cold first (each tool's cache empty), then warm (the cache that cold run filled); who
        # goes first turns with each round.
        turn = tools[round_number % len(tools):] + tools[:round_number % len(tools)]
        order = [(tool, "cold") for tool in turn] + [(tool, "warm") for tool in turn]
        for tool, state in order:
            log(f"dependencies round {round_number + 1}/{rounds}: {tool} {state}")
            work = scratch / f"work-{tool}"

            def one() -> float:
                if tool == "ours":
                    install_s, seconds, size, unzipped = ours(source, work, caches["ours"])
                else:
                    install_s, seconds, size, unzipped = pip_zip(source, work, caches[tool], venv, tool == "pip")
                sizes[tool] = (size, unzipped)
                install_series[key].values.append(install_s)
                return seconds

            key = f"{tool}-{state}"
            series[key].record(one)
        if not count and (scratch / "work-ours" / "install").exists():
            count = len(list((scratch / "work-ours" / "install" / "root").glob("*.dist-info")))
        for cache in caches.values():
            shutil.rmtree(cache, ignore_errors=True)

    def row(label: str, key: str, reference: str, tool: str) -> list[str]:
        state = key.rsplit("-", 1)[1]
        size, unzipped = sizes.get(tool, (0, 0))
        failures = f" ({len(series[key].failures)} failed: {series[key].failures[0][:80]})" if series[key].failures else ""
        total, install_s = series[key].median, install_series[key].median
        zip_s = None if total is None or install_s is None else total - install_s
        return [label, fmt(total, 1) + failures, ratio(total, series[reference].median),
                ratio(total, series[f"pip-no-compile-{state}"].median), fmt(install_s, 1), fmt(zip_s, 1),
                fmt(size / 1e6, 1), fmt(unzipped / 1e6, 1)]

    rows = [
        row(f"pip {pip_version} `install -t` (bytecode, its default) + `zip -r`, cold cache", "pip-cold", "pip-cold", "pip"),
        row("pip `install -t --no-compile` + `zip -r`, cold cache", "pip-no-compile-cold", "pip-cold", "pip-no-compile"),
        row(f"**ours** (uv {uv_version} into the package + our packager), cold cache", "ours-cold", "pip-cold", "ours"),
        row("pip `install -t` + `zip -r`, warm cache", "pip-warm", "pip-warm", "pip"),
        row("pip `install -t --no-compile` + `zip -r`, warm cache", "pip-no-compile-warm", "pip-warm", "pip-no-compile"),
        row("**ours**, warm cache (`dependencies-cache`)", "ours-warm", "pip-warm", "ours"),
    ]
    return "\n".join([
        f"20 top-level requirements ({count} distributions installed) for Lambda python{PYTHON} x86_64 from PyPI, "
        f"wheels only (`{PIP_PLATFORM}`); `bench/dependencies_bench.py`, {rounds} rounds, contenders interleaved.", "",
        table(["package with 20 dependencies", "s (median)", "vs pip", "vs pip --no-compile", "install s", "zip s", "zip MB",
               "unzipped MB"], rows), "",
        "pip's package is bigger: it holds the bytecode pip compiles by default (`.pyc` files, which also "
        "differ from run to run); ours has none (Lambda compiles on import, as it does for the source).", "",
        "Requirements: " + ", ".join(f"`{r}`" for r in REQUIREMENTS.split()) + ".",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(measure(max(1, args.rounds), lambda m: print(f"[bench {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
