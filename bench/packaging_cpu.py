#!/usr/bin/env python3
"""Where packaging's CPU time goes: each stage of `build` on the reference tree, alone, on one thread.

Owns: a breakdown of the CPU seconds (user + system, best of `--rounds`) that packaging the
reference tree costs, stage by stage (walk, reads, CRC-32, the store-or-deflate probe, deflating
with the default codec, SHA-256 of the archive), then the writer whole with 1 and N workers.
With two cores, no build can take less wall time than its CPU seconds divided by two: this is
the floor that a speed target has to be read against.
Must not: compare against other tools (bench/zip_bench.py does), or write outside bench/out/.

    .venv/bin/python bench/packaging_cpu.py [--rounds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from isal import isal_zlib  # noqa: E402

import make_tree  # noqa: E402
from common import OUT  # noqa: E402
from faas_action import package  # noqa: E402


def cpu_seconds(work: Callable[[], object], rounds: int) -> float:
    """The least CPU time (this process and its threads, user + system) of `rounds` runs."""
    best = float("inf")
    for _ in range(rounds):
        before = time.process_time()
        work()
        best = min(best, time.process_time() - before)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    source, _ = make_tree.ensure()
    spec = package.ignore_spec(source, None)
    entries = package.collect(source, spec)
    contents = [package._read(entry) for entry in entries]
    stored = [package.incompressible(package._sample_of(data)) for data in contents]
    deflated = [data if keep else package.FAST.compress(data) for data, keep in zip(contents, stored)]
    archive = OUT / "cpu.zip"
    OUT.mkdir(parents=True, exist_ok=True)

    def build(workers: int) -> None:
        package.write_zip(package.walk(source, spec, []), archive, workers=workers, digest=hashlib.sha256())

    stages = [
        ("walk + ignore rules", lambda: list(package.walk(source, spec, []))),
        ("read every file", lambda: [package._read(entry) for entry in entries]),
        ("CRC-32", lambda: [isal_zlib.crc32(data) for data in contents]),
        ("store-or-deflate probe", lambda: [package.incompressible(package._sample_of(data)) for data in contents]),
        (f"deflate ({package.FAST.name})", lambda: [package.FAST.compress(d) for d, keep in zip(contents, stored) if not keep]),
        ("SHA-256 of the archive's data", lambda: [hashlib.sha256(data) for data in deflated]),
        ("`build`'s steps, 1 worker", lambda: build(1)),
        (f"`build`'s steps, {args.workers} workers", lambda: build(args.workers)),
    ]
    print(f"{len(entries)} files, {sum(map(len, contents)) / 1e6:.1f} MB; CPU seconds, best of {args.rounds}\n")
    print("| stage | CPU s |\n|---|---|")
    for name, work in stages:
        print(f"| {name} | {cpu_seconds(work, args.rounds):.3f} |")
    archive.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
