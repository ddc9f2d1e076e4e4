"""Making an installed tree the same on every run and runner.

Owns: what is removed (uv's lock file, console scripts, installer metadata, `__pycache__`), each
RECORD rewritten to list only what ships, the distributions found, and giving a cache kept in the
workspace to the workspace's owner.
Must not: run the installer or read anything outside the tree (and the cache it is given).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from ..models import Distribution

# -- making the tree reproducible -------------------------------------------------------------

# PEP 376 / PEP 610 files that describe the installation rather than the distribution: which
# installer, whether it was requested by name, the URL it came from (which may hold a token).
INSTALLER_FILES = ("INSTALLER", "REQUESTED", "direct_url.json")


def normalise(target: Path) -> tuple[Distribution, ...]:
    """Make `target` the same whatever the runner and the run: drop uv's lock file, console
    scripts (`bin/`, whose first line names this runner's interpreter; useless in a function),
    the installer files and every `__pycache__`; rewrite each RECORD (sorted) to list only the
    files that stay. Return the distributions found, by name."""
    (target / ".lock").unlink(missing_ok=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        if cache.is_dir():
            shutil.rmtree(cache)
    records = {}
    for info in sorted(target.glob("*.dist-info")):
        for name in INSTALLER_FILES:
            (info / name).unlink(missing_ok=True)
        records[info] = _rewrite_record(info, target)
    sizes = tree_sizes(target)
    distributions = []
    for info, files in records.items():
        metadata = _metadata(info)
        stem = info.name[: -len(".dist-info")]
        name = metadata.get("Name") or stem.rsplit("-", 1)[0]
        version = metadata.get("Version") or stem.rsplit("-", 1)[-1]
        distributions.append(Distribution(name, version, sum(sizes.pop(f, 0) for f in files)))
    return tuple(sorted(distributions, key=lambda d: d.name.lower()))


def _rewrite_record(info: Path, target: Path) -> set[str]:
    """Keep the RECORD rows of files still in `target`, sorted; return their paths."""
    import csv

    record = info / "RECORD"
    own = f"{info.name}/RECORD"
    rows: dict[str, list[str]] = {}
    if record.is_file():
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
            if row and row[0] != own and _relative(row[0]) and (target / row[0]).is_file():
                rows[row[0]] = row
    rows[own] = [own, "", ""]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows[path] for path in sorted(rows))
    replacement = info / "RECORD.faas-tmp"
    replacement.write_text(text.getvalue(), encoding="utf-8")
    os.replace(replacement, record)  # never written in place: the old file may be a link into uv's cache
    return set(rows)


def _relative(path: str) -> bool:
    """A RECORD path inside the target (an installer may record files outside it as ../…)."""
    return not path.startswith(("/", "../")) and "/../" not in path


def _metadata(info: Path) -> dict[str, str]:
    import email.parser

    try:
        text = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    message = email.parser.HeaderParser().parsestr(text)
    return {key: str(message.get(key, "")).strip() for key in ("Name", "Version")}


def tree_sizes(root: Path) -> dict[str, int]:
    """Every file under `root` by its POSIX path relative to `root`, and its size."""
    sizes = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            sizes[os.path.relpath(path, root).replace(os.sep, "/")] = os.path.getsize(path)
    return sizes


def own_cache(cache: Path, workspace: Path) -> None:
    """Give a cache kept in the workspace to the workspace's owner: the container runs as root,
    and root-owned files there break later steps (actions/checkout's clean, actions/cache)."""
    try:
        owner = workspace.stat()
    except OSError:
        return
    if os.geteuid() != 0 or owner.st_uid == 0 or not cache.exists():
        return
    paths = [str(cache)]
    for directory, dirs, names in os.walk(cache):
        paths.extend(os.path.join(directory, name) for name in dirs + names)
    for path in paths:
        try:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
        except OSError:
            pass
