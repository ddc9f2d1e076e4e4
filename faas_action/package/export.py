"""The copy of a built package written where the user asked (`package-out`).

Owns: writing exactly that file (and the folders it needs) inside the workspace, atomically,
owned by the workspace's owner. Must not: build or read the package, or write anywhere else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from ..errors import PackagingError
from ..models import Artifact


def export(artifact: Artifact, destination: Path, workspace: Path) -> str:
    """Copy the built zip to `destination`, a file path inside the workspace (config/ checked),
    creating the folders it needs; return the path relative to the workspace.

    Exactly that file (and those folders) is written: through a temporary name beside it and a
    rename, so a failure leaves no half-written zip. The container runs as root but the job's
    later steps do not, so what this creates takes the workspace's owner: the runner can read,
    move and delete it (no root-owned leftovers in the checkout)."""
    workspace = workspace.resolve()
    destination = destination.resolve()
    if workspace not in destination.parents:
        raise PackagingError(f"package-out {destination} is not inside the workspace {workspace}")
    created = []
    folder = destination.parent
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    try:
        for folder in reversed(created):
            folder.mkdir()
        shutil.copyfile(artifact.path, temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, destination)
    except OSError as exc:
        with contextlib.suppress(OSError):  # it may never have been created (a name too long, ...)
            temporary.unlink(missing_ok=True)
        raise PackagingError(f"could not write package-out {destination}: {exc}") from exc
    _give_to_owner_of(workspace, [*reversed(created), destination])
    return destination.relative_to(workspace).as_posix()


def _give_to_owner_of(workspace: Path, paths: list[Path]) -> None:
    owner = workspace.stat()
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return  # not root: what we create is already ours, and the runner's
    for path in paths:
        try:
            os.chown(path, owner.st_uid, owner.st_gid)
        except OSError:
            pass  # a file system without ownership (some mounts): nothing better to do
