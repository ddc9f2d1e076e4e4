"""Packaging figures: our writer against the tools a user would pick instead, on the reference tree.

Owns: the contenders (Info-ZIP `zip -r -q`, plain zipfile at zlib level 6, per-file libdeflate
level 1 and ISA-L level 3 on one core, ours with 1 and N workers) and their table.
Every Python contender walks the tree itself (ignore rules, modes), as `zip -r` does; extra rows
show our writer alone on a listed tree and ours with ISA-L 3 for every file (the codec before
the size tiers).
Must not: judge correctness beyond recording archive sizes and whether 1 and N workers gave the
same bytes (tests/test_package_fast.py checks the archives); when they differ it keeps each
distinct archive in bench/out/ for a look, nothing more.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import deflate
from isal import isal_zlib

from common import OUT, Series, fmt, ratio, run, table, timed
from faas_action import package


@dataclass
class Contender:
    name: str
    cores: str
    write: Callable[[Path], None]  # writes the archive of the tree to the given path
    note: str = ""


def naive_zip(entries: list[package.Entry], destination: Path, compress: Callable[[bytes], bytes]) -> None:
    """One thread, every file read whole and deflated with `compress`, nothing stored: what a
    codec gives on its own. Reuses our container code so only the compression differs."""
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        archive = package._ArchiveWriter(fd)
        for entry in entries:
            with open(entry.fspath, "rb") as handle:
                data = handle.read()
            out = bytes(compress(data))
            record = package._record(entry, zipfile.ZIP_DEFLATED, isal_zlib.crc32(data), len(out), len(data))
            header = package._local_header(record)
            archive.add_batch(package._Batch(header + out, [(record, len(header) + len(out))]))
        archive.finish()
    finally:
        os.close(fd)


def plain_zipfile(entries: list[package.Entry], destination: Path) -> None:
    """The Python one-liner: zipfile.ZipFile(..., ZIP_DEFLATED).write() per file (zlib level 6)."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            archive.write(entry.path, entry.name)


def contenders(source: Path, workers: int) -> tuple[list[Contender], Callable[[], list[package.Entry]]]:
    def walk() -> list[package.Entry]:
        return package.collect(source, package.ignore_spec(source, None))

    def infozip(dest: Path) -> None:
        dest.unlink(missing_ok=True)  # zip -r updates an existing archive
        run(["zip", "-r", "-q", str(dest), "."], timeout=900, cwd=source)

    def ours(dest: Path, workers: int, codec: package.Codec = package.FAST) -> None:
        """What the action runs: package.build (walk streamed into the writer, zip, sha256),
        moved to `dest` afterwards."""
        if codec is package.FAST:
            artifact = package.build(source, OUT / "no-workspace", out_dir=dest.parent, workers=workers)
            os.replace(artifact.path, dest)
            artifact.path.parent.rmdir()
        else:  # build() has no codec knob: the same steps by hand
            problems: list = []
            digest = hashlib.sha256()
            entries = package.walk(source, package.ignore_spec(source, None), problems)
            package._artifact(dest, package.write_zip(entries, dest, workers=workers, codec=codec, digest=digest), digest)
            assert not problems

    listed = walk()
    rows = [
        Contender("Info-ZIP `zip -r -q` (level 6)", "1", infozip),
        Contender("zipfile, zlib level 6", "1", lambda d: plain_zipfile(walk(), d)),
        Contender("libdeflate level 1, per file", "1", lambda d: naive_zip(walk(), d, lambda b: deflate.deflate_compress(b, 1))),
        Contender("ISA-L level 3, per file", "1", lambda d: naive_zip(walk(), d, lambda b: isal_zlib.compress(b, 3, -15))),
        Contender("**ours**, 1 worker (`build`: walk, zip, sha256)", "1", lambda d: ours(d, 1)),
        Contender(f"**ours**, {workers} workers (`build`: walk, zip, sha256)", str(workers), lambda d: ours(d, workers)),
        Contender(f"ours, {workers} workers, zip only (tree already listed)", str(workers), lambda d: package.write_zip(listed, d, workers=workers)),
        Contender(f"ours, {workers} workers, ISA-L 3 for every file (`build` steps)", str(workers), lambda d: ours(d, workers, package.ISAL),
                  "the codec before the size tiers"),
    ]
    return rows, walk


def measure(source: Path, total_bytes: int, rounds: int, workers: int, log: Callable[[str], None]) -> str:
    """Run every contender `rounds` times, rotating the order each round; return the Markdown."""
    scratch = OUT / "zips"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    rows, walk = contenders(source, workers)
    times = {c.name: Series() for c in rows}
    sizes: dict[str, int] = {}
    walks = Series()
    digests: dict[str, set[str]] = {rows[4].name: set(), rows[5].name: set()}
    kept: list[str] = []
    for old in OUT.glob("archive-*.zip"):
        old.unlink()
    for round_index in range(rounds):
        order = rows[round_index % len(rows):] + rows[: round_index % len(rows)]
        for contender in order:
            dest = scratch / (hashlib.sha1(contender.name.encode()).hexdigest()[:10] + ".zip")
            times[contender.name].record(lambda c=contender, d=dest: timed(lambda: c.write(d)))
            if dest.exists():
                sizes[contender.name] = dest.stat().st_size
                if contender.name in digests:
                    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
                    if digest not in set().union(*digests.values()):  # kept to compare if they differ
                        shutil.copy(dest, OUT / f"archive-{digest[:12]}.zip")
                        kept.append(f"`bench/out/archive-{digest[:12]}.zip` ({contender.name}, round {round_index + 1})")
                    digests[contender.name].add(digest)
                dest.unlink()
        walks.record(lambda: timed(walk))
        log(f"packaging round {round_index + 1}/{rounds}: " + ", ".join(f"#{i + 1} {times[c.name].values[-1]:.2f}s" for i, c in enumerate(rows) if times[c.name].values))

    reference = times[rows[0].name].median
    reference_size = sizes.get(rows[0].name)
    mb = total_bytes / 1e6
    lines = []
    for contender in rows:
        seconds = times[contender.name].median
        size = sizes.get(contender.name)
        speed = mb / seconds if seconds else None
        lines.append([
            contender.name, contender.cores, fmt(seconds, 3), fmt(speed, 0), fmt(size / 1e6 if size else None, 1),
            ratio(reference, seconds) if seconds else "-", ratio(size, reference_size, 3) if size else "-",
        ])
    lines.append(["walk + ignore rules alone (`collect`)", "1", fmt(walks.median, 3), "-", "-", "-", "-"])
    same = all(len(d) == 1 for d in digests.values()) and len(set().union(*digests.values())) == 1
    if same:
        for old in OUT.glob("archive-*.zip"):
            old.unlink()
    failed = [f"- {name}: {len(s.failures)} failed round(s), first: {s.failures[0]}" for name, s in times.items() if s.failures]
    return "\n".join([
        table(["packaging", "cores", "s (median)", "MB/s", "archive MB", "speed vs Info-ZIP", "size vs Info-ZIP"], lines),
        "",
        f"Input: {len(walk())} files, {mb:.1f} MB. Our archive is byte-identical for 1 and {workers} workers and across rounds: "
        f"**{'yes' if same else 'NO'}**." + ("" if same else f" Each distinct archive was kept: {', '.join(kept)}."),
        *failed,
    ])
