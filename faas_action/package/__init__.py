"""Reproducible zip packages: `build` one from a source folder, `describe` a prebuilt one.

Owns, through its modules:
- tree.py: which files go in (ignore rules, the walk in archive order, symlink and name rules,
  installed dependencies merged into the root);
- codec.py: how each is stored (libdeflate, the store-or-deflate decision and its probe);
- layout.py: the zip format as zipfile lays it out, and the reference writer;
- writer.py: the fast writer (parallel packing, ordered writing, hash while writing);
- artifact.py: hashes and sizes, and the checks a prebuilt zip must pass;
- sensitive.py: the warning about files that likely hold secrets;
- export.py: the copy written where the user asked (`package-out`).
Must not: know any cloud API or size limit of a provider (providers check those on the Artifact),
or hold a file over codec.HOLD_LIMIT whole in memory.

The same files give the same bytes, whatever the number of workers, the run or the machine:
sorted names, fixed 1980-01-01 timestamps, normalised modes, and a store-or-deflate decision and
deflate streams that depend only on each file's bytes. The no-op detection relies on it.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import InputError, PackagingError, Problem
from ..models import Artifact
from . import codec, sensitive
from .artifact import artifact, describe
from .codec import DEFAULT, ZLIB
from .export import export
from .layout import write_zip_simple
from .tree import NOTHING_IGNORED, OWN_IGNORE_FILE, Entry, collect, ignore_rules, ignore_spec, merged, shown, walk
from .writer import write_zip

__all__ = [
    "DEFAULT", "ZLIB", "Entry", "build", "codec", "collect", "describe", "export", "ignore_spec", "walk", "write_zip",
    "write_zip_simple",
]


def build(
    source: Path,
    workspace: Path,
    provider_ignore_file: str | None = None,
    default_ignores: Iterable[str] = (),
    out_dir: Path | None = None,
    workers: int | None = None,
    dependencies: Path | None = None,
    exclude: Iterable[str] = (),
) -> Artifact:
    """Package `source` into a zip written outside the workspace; return its Artifact.
    `workers` threads pack (default os.cpu_count()); the bytes do not depend on it.
    `dependencies`, a directory of installed packages, is merged into the archive's root beside
    the source; the ignore rules apply to the source only. A name in both is an InputError.
    `exclude` adds gitignore lines that no ignore file can undo (the dependency cache, say).
    A problem with the ignore files (one leaving the source or unreadable, a line that is not a
    gitignore pattern) is an InputError before anything is walked. The walk feeds the writer as
    it goes; its problems (every one: a symlink leaving the source, a name that is not UTF-8,
    nothing to package) are an InputError, raised once the walk is over; the partial zip is
    removed. Files of the source that likely hold secrets are packaged and named in the
    Artifact's warnings."""
    rules = ignore_rules(source, provider_ignore_file, default_ignores, exclude)
    if rules.problems:  # walking with rules that lack the user's patterns would report false problems
        raise InputError(rules.problems)
    out_dir = _outside(out_dir, workspace)
    destination = out_dir / "package.zip"
    problems: list[Problem] = []
    secrets: list[Entry] = []
    digest = hashlib.sha256()
    # only the source's files are looked at for secrets: the ignore file cannot leave out an
    # installed dependency's (moto ships a `ca.key`), and those came public from a package index
    entries = _noting(walk(source, rules.spec, problems), secrets)
    if dependencies is not None:
        entries = merged(entries, walk(dependencies, NOTHING_IGNORED, problems), problems)
    try:
        stats = write_zip(_until_problem(entries, problems), destination, workers=workers, digest=digest)
        if not problems and not stats.file_count:
            problems.append(Problem("source", f"nothing to package in {shown(source)} (everything is ignored or it is empty)"))
        if problems:
            raise InputError(problems)
        found = sensitive.find([entry.name for entry in secrets], _pem_reader(secrets))
    except BaseException as exc:
        destination.unlink(missing_ok=True)
        out_dir.rmdir()
        if isinstance(exc, OSError):  # an unreadable file or folder, a full disk
            raise PackagingError(f"could not package {shown(source)}: {shown(str(exc))}") from exc
        raise
    ignore_file = rules.file or OWN_IGNORE_FILE
    remedy = f"if they should not be deployed, leave them out with `{ignore_file}` in the source folder (gitignore syntax, one pattern a line)."
    warnings = (sensitive.warning(found, remedy),) if found else ()
    # the writer counted and hashed: no need to read the zip back
    return artifact(destination, stats.file_count, stats.unzipped_size, digest, warnings)


def _noting(entries: Iterator[Entry], secrets: list[Entry]) -> Iterator[Entry]:
    """`entries`, appending to `secrets` those whose name suggests a secret."""
    likely = sensitive.likely_secret
    for entry in entries:
        if likely(entry.name):
            secrets.append(entry)
        yield entry


def _pem_reader(entries: list[Entry]) -> Callable[[str], bytes]:
    paths = {entry.name: entry.fspath for entry in entries}

    def read(name: str) -> bytes:
        with open(paths[name], "rb") as handle:
            return handle.read(sensitive.PEM_READ_LIMIT)

    return read


def _until_problem(entries: Iterator[Entry], problems: list[Problem]) -> Iterator[Entry]:
    """`entries` until the walk finds a problem; then the walk is finished (to report every
    problem) without packing any more."""
    for entry in entries:
        if problems:
            for _ in entries:
                pass
            return
        yield entry


def _outside(out_dir: Path | None, workspace: Path) -> Path:
    """A fresh directory for the zip, never inside the workspace (files there end up root-owned)."""
    base = out_dir or Path(tempfile.gettempdir())
    workspace = workspace.resolve()
    if base.resolve().is_relative_to(workspace):
        base = Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix="faas-package-", dir=base))

