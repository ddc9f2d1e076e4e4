#!/usr/bin/env python3
"""Every performance figure of the action, side by side, in one run (issue 3).

    make bench                      # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --rounds 5 --only packaging,deploy

Parts: packaging (three trees, from make_tree.py, this checkout's site-packages and
make_binaries.py, against Info-ZIP), deploy (our action against the awscli script on a local moto server:
changed code and a no-op), parallel (1, 8 and 32 functions in one step), startup (process start to the first API call), install (runtime
dependencies with uv and pip, installed size, imports with and without bytecode), dependencies
(a function's package with 20 Python dependencies: ours with uv against pip install -t + zip).
Each part runs `--rounds` rounds with the contenders interleaved and reports medians; a failed
round is reported in the table, never retried forever. The Markdown goes to stdout and, unless
--no-write, to docs/benchmarks.md with the machine it ran on.

Owns: the order of the parts and the report.
Must not: assert correctness (tests do) or leave anything outside bench/out/ but the report
(and faas_action/__pycache__, compiled as the image compiles it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (puts the project root on sys.path)
import make_tree  # noqa: E402
from common import ROOT, machine, run, table  # noqa: E402

PARTS = ("packaging", "deploy", "parallel", "install", "dependencies")
REPORT = ROOT / "docs" / "benchmarks.md"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def tool_versions() -> str:
    import deflate

    versions = [f"deflate (libdeflate) {deflate.__version__}"]
    for command, label in ((["zip", "-v"], "Info-ZIP"), ([str(Path(sys.executable).parent / "aws"), "--version"], "awscli")):
        try:
            out = run(command, timeout=30).stdout or ""
            line = next((ln for ln in out.splitlines() if "Zip " in ln or "aws-cli" in ln), out.splitlines()[0] if out else "")
            versions.append(f"{label} {line.split()[0].split('/')[-1]}" if "aws-cli" in line else f"{label}: {line.strip()[:60]}")
        except Exception as exc:
            versions.append(f"{label}: unavailable ({exc})")
    try:
        import moto

        versions.append(f"moto {moto.__version__}")
    except ImportError:
        pass
    return ", ".join(versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark figure side by side.")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (medians are reported)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)} (deploy includes start-up)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers for our writer's N-worker row")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not rewrite {REPORT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    rounds = max(1, args.rounds)
    common.OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    log(f"machine: {info}")
    sections: list[str] = []

    def part(title: str, body: Callable[[], list[str]]) -> None:
        """One part of the report; a part that cannot run at all is reported as failed."""
        try:
            sections.extend([f"## {title}", "", *body(), ""])
        except Exception as exc:
            log(f"{title} failed: {type(exc).__name__}: {exc}")
            sections.extend([f"## {title}", "", f"**failed**: {type(exc).__name__}: {str(exc)[:300]}", ""])

    def packaging() -> list[str]:
        import make_binaries
        import zip_bench

        log("trees: generated, real (site-packages), binaries")
        source, manifest = make_tree.ensure()
        trees = [zip_bench.Tree("generated", source, manifest["files"], manifest["bytes"],
                                f"`bench/make_tree.py` (seed {manifest['seed']}, content sha256 `{manifest['content_sha256'][:16]}…`): "
                                "application and vendored Python source, JSON and CSV data, incompressible `.so`-like binaries")]
        site, files, size, note = zip_bench.real_tree()
        trees.append(zip_bench.Tree("real", site, files, size, note))
        source, manifest = make_binaries.ensure()
        trees.append(zip_bench.Tree("binaries", source, manifest["files"], manifest["bytes"],
                                    f"`bench/make_binaries.py` (seed {manifest['seed']}, content sha256 `{manifest['content_sha256'][:16]}…`): "
                                    "binaries whose 1-8 KiB blocks repeat 2-30 KiB apart, compressed assets, and blocks repeated beyond deflate's reach"))
        log(f"packaging: {', '.join(f'{t.name} {t.files} files {t.bytes / 1e6:.0f} MB' for t in trees)}; {rounds} rounds")
        return ["Every contender packs the same files; ours is `package.build` (walk, ignore rules, zip, SHA-256), as the action runs it. "
                "Sizes are the whole archive's.", "",
                zip_bench.measure(trees, rounds, args.workers, log)]

    def deploy() -> list[str]:
        import deploy_bench

        # The image runs precompiled bytecode (Dockerfile: compileall); do the same here.
        run([sys.executable, "-m", "compileall", "-q", str(ROOT / "faas_action"), str(ROOT / "entrypoint.py")], timeout=120)
        log(f"deploy and start-up: {rounds} rounds against a local moto server")
        deploy_table, startup_table = deploy_bench.measure(rounds, log)
        return ["Same moto server, one function per contender, both warmed up once; rounds alternate who goes first.", "",
                deploy_table, "", "### Start-up", "", startup_table]

    def parallel() -> list[str]:
        import parallel_bench

        log(f"parallel: {rounds} rounds of 1, 8 and 32 functions against a local moto server")
        return [f"A `functions:` config deployed by one step (`max-parallel` = the number of functions, and once "
                f"`max-parallel: 1` for comparison). The Lambda test proxy keeps each function busy for "
                f"{parallel_bench.BUSY:g} s after every change (409 to a mutation meanwhile), as Lambda does.", "",
                parallel_bench.measure(rounds, log)]

    def install() -> list[str]:
        import install_bench

        log(f"install: {rounds} rounds of cold installs (network)")
        return [install_bench.measure(rounds, log)]

    def function_dependencies() -> list[str]:
        import dependencies_bench

        log(f"dependencies: {rounds} rounds of a 20-dependency package, ours against pip (network)")
        return [dependencies_bench.measure(rounds, log)]

    if "packaging" in parts:
        part("Packaging: three trees against Info-ZIP", packaging)
    if "deploy" in parts:
        part("AWS deploy of a small function", deploy)
    if "parallel" in parts:
        part("Many functions in one step", parallel)
    if "install" in parts:
        part("Container image: runtime dependencies", install)
    if "dependencies" in parts:
        part("A function's package with 20 Python dependencies", function_dependencies)

    header = [
        "# Benchmarks", "",
        f"Produced by `make bench` (`.venv/bin/python bench/run.py --rounds {rounds}`); every figure is the median of "
        f"{rounds} rounds run side by side in one run. Ratios compare rows of the same run.", "",
        table(["machine", ""], [[key, value] for key, value in info.items()]), "",
        f"Tools: {tool_versions()}.", "",
    ]
    report = "\n".join(header + sections)
    print(report)
    if not args.no_write:
        if set(parts) != set(PARTS):
            log(f"only {', '.join(parts)} ran: {REPORT.relative_to(ROOT)} left as it was (run all parts to rewrite it)")
        else:
            notes = REPORT.read_text().split("<!-- notes -->", 1)[1] if REPORT.exists() and "<!-- notes -->" in REPORT.read_text() else ""
            REPORT.write_text(report + "\n<!-- notes -->" + notes if notes else report + "\n")
            log(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
