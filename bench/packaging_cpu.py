#!/usr/bin/env python3
"""Where packaging's CPU time goes: each stage of `build` on one of the benchmark's trees, alone, on one thread.

Owns: a breakdown of the CPU seconds (user + system, best of `--rounds`) that packaging a tree
costs, stage by stage (walk, reads, CRC-32, the store-or-deflate decision with the deflating it
does, SHA-256 of the archive), then `build`'s steps whole with 1 and N workers, and Info-ZIP's
CPU seconds on the same tree for scale.
With two cores, no build can take less wall time than its CPU seconds divided by two: this is
the floor that a speed target has to be read against.
Must not: compare against other tools (bench/zip_bench.py does), or write outside bench/out/.

    .venv/bin/python bench/packaging_cpu.py [--tree generated|real|binaries] [--rounds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import deflate  # noqa: E402

import make_binaries  # noqa: E402
import make_tree  # noqa: E402
import zip_bench  # noqa: E402
from common import OUT  # noqa: E402
from faas_action import package  # noqa: E402
from faas_action.package import codec, writer  # noqa: E402


def cpu_seconds(work: Callable[[], object], rounds: int) -> float:
    """The least CPU time (this process and its threads, user + system) of `rounds` runs."""
    best = float("inf")
    for _ in range(rounds):
        before = time.process_time()
        work()
        best = min(best, time.process_time() - before)
    return best


def cpu_seconds_of_child(command: list[str], cwd: Path, rounds: int, output: Path) -> float:
    """The least CPU time (user + system) of `rounds` runs of a child process."""
    best = float("inf")
    for _ in range(rounds):
        output.unlink(missing_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, cwd=cwd, check=True, stdin=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", choices=("generated", "real", "binaries"), default="generated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    if args.tree == "generated":
        source, _ = make_tree.ensure()
    elif args.tree == "binaries":
        source, _ = make_binaries.ensure()
    else:
        source = zip_bench.real_tree()[0]
    spec = package.ignore_spec(source, None)
    entries = package.collect(source, spec)
    contents = [writer.read(entry) for entry in entries]
    deflated = [bytes(codec.pack(data, package.DEFAULT)[1]) for data in contents]
    archive = OUT / "cpu.zip"
    OUT.mkdir(parents=True, exist_ok=True)

    def build(workers: int) -> None:
        package.write_zip(package.walk(source, spec, []), archive, workers=workers, digest=hashlib.sha256())

    stages = [
        ("walk + ignore rules", lambda: list(package.walk(source, spec, []))),
        ("read every file", lambda: [writer.read(entry) for entry in entries]),
        ("CRC-32", lambda: [deflate.crc32(data) for data in contents]),
        ("store-or-deflate decision and deflate (codec.pack)", lambda: [codec.pack(d, package.DEFAULT) for d in contents]),
        ("SHA-256 of the archive's data", lambda: [hashlib.sha256(data) for data in deflated]),
        ("`build`'s steps, 1 worker", lambda: build(1)),
        (f"`build`'s steps, {args.workers} workers", lambda: build(args.workers)),
    ]
    print(f"{args.tree}: {len(entries)} files, {sum(map(len, contents)) / 1e6:.1f} MB; CPU seconds, best of {args.rounds}\n")
    print("| stage | CPU s |\n|---|---|")
    for name, work in stages:
        print(f"| {name} | {cpu_seconds(work, args.rounds):.3f} |")
    archive.unlink(missing_ok=True)
    print(f"| Info-ZIP `zip -r -q` (for scale) | {cpu_seconds_of_child(['zip', '-r', '-q', str(archive), '.'], source, args.rounds, archive):.3f} |")
    archive.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
