"""Reproducible zip packages.

Owns: which files go in (ignore files in gitignore syntax, the always-excluded credentials and
VCS folders, symlink rules), how they are stored (sorted names, fixed 1980-01-01 timestamps,
normalised modes) and the artifact's hashes and sizes.
Must not: know any cloud API or size limit of a provider (providers check those on the Artifact).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pathspec

from .errors import InputError, PackagingError, Problem
from .models import Artifact

ALWAYS_EXCLUDED = (".git/", ".github/", "gha-creds-*.json", ".faasignore")
OWN_IGNORE_FILE = ".faasignore"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
EXECUTABLE_NAMES = frozenset({"bootstrap"})


@dataclass(frozen=True)
class Entry:
    """One file to store: its name in the archive, where to read it, its normalised mode."""

    name: str
    path: Path
    mode: int
    size: int


def ignore_spec(source: Path, provider_ignore_file: str | None, default_ignores: Iterable[str] = ()) -> pathspec.GitIgnoreSpec:
    """The exclusion rules: always-excluded paths plus `.faasignore`, else the provider's file,
    else the provider's defaults (gcloud's, for example)."""
    lines = list(ALWAYS_EXCLUDED)
    for name in (OWN_IGNORE_FILE, provider_ignore_file):
        if name and (source / name).is_file():
            lines.extend(_expand_includes(source, source / name))
            break
    else:
        lines.extend(_expand_default(source, default_ignores))
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _expand_includes(source: Path, path: Path) -> list[str]:
    """Lines of an ignore file; gcloud's `#!include:<file>` pulls in another file (one level)."""
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#!include:"):
            included = (source / line.split(":", 1)[1].strip()).resolve()
            if included.is_file() and source.resolve() in included.parents:
                lines.extend(included.read_text(encoding="utf-8", errors="replace").splitlines())
        else:
            lines.append(line)
    return lines


def _expand_default(source: Path, default_ignores: Iterable[str]) -> list[str]:
    lines = []
    for line in default_ignores:
        if line.startswith("#!include:"):
            included = source / line.split(":", 1)[1].strip()
            if included.is_file():
                lines.extend(included.read_text(encoding="utf-8", errors="replace").splitlines())
        else:
            lines.append(line)
    return lines


def collect(source: Path, spec: pathspec.GitIgnoreSpec) -> list[Entry]:
    """Every file to package, sorted by archive name. A symlink leaving `source` is an InputError."""
    root = source.resolve()
    entries: list[Entry] = []
    problems: list[Problem] = []
    # Each directory carries the real paths above it: a symlink back to one of them is a loop.
    stack: list[tuple[Path, str, frozenset[Path]]] = [(root, "", frozenset({root}))]
    while stack:
        directory, prefix, ancestors = stack.pop()
        with os.scandir(directory) as listing:
            children = sorted(listing, key=lambda e: e.name)
        for child in children:
            name = prefix + child.name
            is_dir = child.is_dir(follow_symlinks=True)
            if spec.match_file(name + "/" if is_dir else name):
                continue
            path = Path(child.path)
            if child.is_symlink():
                target = path.resolve()
                if not target.exists():
                    problems.append(Problem("source", f"symlink {name!r} points to a missing file; refused"))
                    continue
                if target != root and root not in target.parents:
                    problems.append(Problem("source", f"symlink {name!r} leaves the source directory ({target}); refused"))
                    continue
            if is_dir:
                real = path.resolve()
                if real in ancestors:
                    problems.append(Problem("source", f"symlink {name!r} loops back to a parent directory; refused"))
                    continue
                stack.append((path, name + "/", ancestors | {real}))
                continue
            info = child.stat(follow_symlinks=True)
            if not stat.S_ISREG(info.st_mode):
                continue  # sockets, fifos: nothing a function can use
            executable = bool(info.st_mode & 0o111) or child.name in EXECUTABLE_NAMES
            entries.append(Entry(name, path, 0o755 if executable else 0o644, info.st_size))
    if problems:
        raise InputError(problems)
    entries.sort(key=lambda e: e.name)
    return entries


def zip_info(entry: Entry, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """The fixed header of an entry: 1980 timestamp, Unix regular file with normalised mode."""
    info = zipfile.ZipInfo(entry.name, date_time=ZIP_EPOCH)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | entry.mode) << 16
    info.compress_type = compress_type
    return info


def write_zip(entries: list[Entry], destination: Path, level: int = 6) -> None:
    """Write `entries` in order as a reproducible zip (the simple, single-threaded writer)."""
    with zipfile.ZipFile(destination, "w", compresslevel=level, strict_timestamps=False) as archive:
        for entry in entries:
            with open(entry.path, "rb") as handle, archive.open(zip_info(entry), "w", force_zip64=entry.size > 2**31) as out:
                while chunk := handle.read(1 << 20):
                    out.write(chunk)


def describe(path: Path) -> Artifact:
    """Hashes and sizes of a zip on disk."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
    return Artifact(
        path=path,
        size=path.stat().st_size,
        sha256=base64.b64encode(digest.digest()).decode("ascii"),
        sha256_hex=digest.hexdigest(),
        unzipped_size=sum(i.file_size for i in infos),
        file_count=len(infos),
    )


def build(
    source: Path,
    workspace: Path,
    provider_ignore_file: str | None = None,
    default_ignores: Iterable[str] = (),
    out_dir: Path | None = None,
) -> Artifact:
    """Package `source` into a zip written outside the workspace; return its Artifact."""
    entries = collect(source, ignore_spec(source, provider_ignore_file, default_ignores))
    if not entries:
        raise InputError([Problem("source", f"nothing to package in {source} (everything is ignored or it is empty)")])
    out_dir = _outside(out_dir, workspace)
    destination = out_dir / "package.zip"
    try:
        write_zip(entries, destination)
    except OSError as exc:
        raise PackagingError(f"could not write the package: {exc}") from exc
    return describe(destination)


def _outside(out_dir: Path | None, workspace: Path) -> Path:
    """A fresh directory for the zip, never inside the workspace (files there end up root-owned)."""
    base = out_dir or Path(tempfile.gettempdir())
    workspace = workspace.resolve()
    if base.resolve() == workspace or workspace in base.resolve().parents:
        base = Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix="faas-package-", dir=base))
