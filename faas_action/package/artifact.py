"""The Artifact of a zip on disk, and the checks a prebuilt zip must pass.

Owns: hashes and sizes of a zip (`artifact` for one the writer just counted and hashed,
`describe` for a prebuilt one the user gave as `package`), and what makes a prebuilt zip
unusable: not a zip or a corrupt central directory, no files at all, or an entry whose name
would land outside the folder it is unpacked into (`../x`, `/etc/x`, `C:x`, or the same with
backslashes). All of these are input errors, found before any network call.
Must not: change the zip or know any provider's size limits (providers check the Artifact).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem
from ..models import Artifact
from . import codec, sensitive
from .tree import quoted, shown, unsafe_name

def artifact(path: Path, file_count: int, unzipped_size: int, digest: Any, warnings: tuple[str, ...] = ()) -> Artifact:
    return Artifact(
        path=path,
        size=path.stat().st_size,
        sha256=base64.b64encode(digest.digest()).decode("ascii"),
        sha256_hex=digest.hexdigest(),
        unzipped_size=unzipped_size,
        file_count=file_count,
        warnings=warnings,
    )


def describe(path: Path) -> Artifact:
    """Hashes and sizes of a prebuilt zip; InputError (field `package`) if it cannot be used."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            files = [info for info in infos if not info.is_dir()]
            problems = [Problem("package", f"{shown(path)}: entry {quoted(info.filename)} {why}; refused")
                        for info in infos if (why := unsafe_name(info.filename))]
            if not files:
                problems.append(Problem("package", f"{shown(path)} holds no files"))
            if problems:
                raise InputError(problems)
            secrets = sensitive.find([info.filename for info in files], lambda name: _head(archive, name))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise InputError([Problem("package", f"{shown(path)} is not a readable zip archive ({exc})")]) from exc
    except OSError as exc:
        raise InputError([Problem("package", f"could not read {shown(path)}: {exc.strerror or exc}")]) from exc
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(codec.CHUNK):
            digest.update(chunk)
    warnings = (sensitive.warning(secrets, "rebuild the zip without them if they should not be deployed."),) if secrets else ()
    return artifact(path, len(files), sum(info.file_size for info in files), digest, warnings)


def _head(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as member:
        return member.read(sensitive.PEM_READ_LIMIT)

