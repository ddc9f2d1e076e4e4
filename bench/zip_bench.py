"""Packaging figures: our `build` against Info-ZIP's `zip -r -q`, side by side, on three trees.

Owns: the trees (the generated tree of make_tree.py; a real one, this checkout's own installed
packages, the `.venv` site-packages without `__pycache__`, hard-linked into bench/out/; the
binaries of make_binaries.py, whose blocks repeat a few KiB apart), the contenders (Info-ZIP at
its default level; `package.build` with 1 and N workers: walk, ignore rules, zip, SHA-256) and
the table: per tree, files, MB, each contender's median time and archive size, the ratios, and
whether our bytes were identical for 1 and N workers and across rounds.
Must not: judge correctness beyond that byte comparison (tests/test_package_fast.py checks the
archives); when our archives differ it keeps each distinct one in bench/out/ for a look.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from common import OUT, ROOT, Series, fmt, ratio, run, table, timed
from faas_action import package

SITE_COPY = OUT / "site-packages"


@dataclass
class Tree:
    name: str
    source: Path
    files: int
    bytes: int
    note: str
    times: dict[str, Series] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    digests: dict[str, set[str]] = field(default_factory=dict)


def real_tree() -> tuple[Path, int, int, str]:
    """This checkout's site-packages (runtime and test dependencies from uv.lock) without
    `__pycache__`, hard-linked (copied across file systems) into bench/out/site-packages."""
    site = Path(sysconfig.get_paths()["purelib"])
    shutil.rmtree(SITE_COPY, ignore_errors=True)
    files = size = 0
    for folder, dirs, names in os.walk(site):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        target = SITE_COPY / os.path.relpath(folder, site)
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            origin = os.path.join(folder, name)
            if os.path.islink(origin) or not os.path.isfile(origin):
                continue
            try:
                os.link(origin, target / name)
            except OSError:
                shutil.copy2(origin, target / name)
            files += 1
            size += os.path.getsize(origin)
    lock = hashlib.sha256((ROOT / "uv.lock").read_bytes()).hexdigest()[:12]
    return SITE_COPY, files, size, f"this checkout's `.venv` site-packages without `__pycache__` (uv.lock `{lock}…`)"


def contenders(workers: int) -> dict[str, Callable[[Path, Path], None]]:
    def infozip(source: Path, dest: Path) -> None:
        dest.unlink(missing_ok=True)  # zip -r updates an existing archive
        run(["zip", "-r", "-q", str(dest), "."], timeout=900, cwd=source)

    def ours(count: int) -> Callable[[Path, Path], None]:
        def build(source: Path, dest: Path) -> None:
            """What the action runs: package.build, then moved to `dest`."""
            artifact = package.build(source, OUT / "no-workspace", out_dir=dest.parent, workers=count)
            os.replace(artifact.path, dest)
            artifact.path.parent.rmdir()

        return build

    return {"Info-ZIP": infozip, "ours, 1 worker": ours(1), f"ours, {workers} workers": ours(workers)}


def measure(trees: list[Tree], rounds: int, workers: int, log: Callable[[str], None]) -> str:
    """Every contender on every tree, `rounds` times, the order rotated each round; the Markdown."""
    scratch = OUT / "zips"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for old in OUT.glob("archive-*.zip"):
        old.unlink()
    runs = contenders(workers)
    names = list(runs)
    ours = names[1:]
    kept: list[str] = []
    for tree in trees:
        tree.times = {name: Series() for name in names}
        tree.digests = {name: set() for name in ours}
    for round_index in range(rounds):
        for tree in trees:
            order = names[round_index % len(names):] + names[: round_index % len(names)]
            for name in order:
                dest = scratch / f"{tree.name}-{hashlib.sha1(name.encode()).hexdigest()[:8]}.zip"
                tree.times[name].record(lambda d=dest, n=name: timed(lambda: runs[n](tree.source, d)))
                if not dest.exists():
                    continue
                tree.sizes[name] = dest.stat().st_size
                if name in tree.digests:
                    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
                    if digest not in set().union(*tree.digests.values()):  # kept to compare if they differ
                        shutil.copy(dest, OUT / f"archive-{tree.name}-{digest[:12]}.zip")
                        kept.append(f"`bench/out/archive-{tree.name}-{digest[:12]}.zip` ({name}, round {round_index + 1})")
                    tree.digests[name].add(digest)
                dest.unlink()
            log(f"packaging round {round_index + 1}/{rounds}, {tree.name}: "
                + ", ".join(f"{n} {tree.times[n].values[-1]:.2f}s" for n in names if tree.times[n].values))

    rows = []
    all_same = True
    for tree in trees:
        izs, izb = tree.times["Info-ZIP"].median, tree.sizes.get("Info-ZIP")
        one, many = tree.times[ours[0]].median, tree.times[ours[1]].median
        size_one, size = tree.sizes.get(ours[0]), tree.sizes.get(ours[1])
        same = all(len(d) == 1 for d in tree.digests.values()) and len(set().union(*tree.digests.values())) == 1
        all_same &= same
        rows.append([
            tree.name, f"{tree.files:,}", f"{tree.bytes / 1e6:.1f}",
            fmt(izs, 2), fmt(izb / 1e6 if izb else None, 2),
            fmt(one, 2), fmt(size_one / 1e6 if size_one else None, 2), fmt(many, 2), fmt(size / 1e6 if size else None, 2),
            ratio(max(size or 0, size_one or 0), izb, 4) if size and izb else "-",
            ratio(izs, one) if one else "-", ratio(izs, many) if many else "-",
            "**identical**" if same else "**DIFFERENT**",
        ])
    if all_same:
        for old in OUT.glob("archive-*.zip"):
            old.unlink()
    failed = [f"- {tree.name}, {name}: {len(s.failures)} failed round(s), first: {s.failures[0]}"
              for tree in trees for name, s in tree.times.items() if s.failures]
    headers = ["tree", "files", "MB", "Info-ZIP s", "Info-ZIP MB", "ours 1 worker s", "ours 1 worker MB", f"ours {workers} workers s", f"ours {workers} workers MB",
               "size vs Info-ZIP", "speed vs Info-ZIP, 1 worker", f"speed vs Info-ZIP, {workers} workers", f"bytes for 1 and {workers} workers, every round"]
    return "\n".join([
        table(headers, rows),
        "",
        *(f"- **{tree.name}**: {tree.note}." for tree in trees),
        *failed,
        *([f"- Distinct archives were kept: {', '.join(kept)}."] if not all_same else []),
    ])
