"""The Artifact of a zip on disk, and the checks a prebuilt zip must pass.

Owns: hashes and sizes of a zip (`artifact` for one the writer just counted and hashed,
`describe` for a prebuilt one the user gave as `package`), and what makes a prebuilt zip
unusable: not a zip or a corrupt central directory, no files at all, an entry whose name
would land outside the folder it is unpacked into (`../x`, `/etc/x`, `C:x`, or the same with
backslashes), a name given twice, an encrypted entry, or a compression method zipfile cannot read. All of these are input errors, found before any network call.
Must not: change the zip or know any provider's size limits (providers check the Artifact).
"""

from __future__ import annotations

import base64
import hashlib
import lzma
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem
from ..models import Artifact
from . import codec, sensitive
from .tree import quoted, shown, unsafe_name

# What zipfile raises on a damaged archive, a member's corrupt deflate or LZMA data (read to tell
# a certificate bundle from a private key) included; bzip2's corrupt data is an OSError.
_UNREADABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, RuntimeError,
               zlib.error, lzma.LZMAError)
_ENCRYPTED = 0x1  # general purpose flag bit 0
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)

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
            counts = Counter(info.filename for info in infos)
            files = [info for info in infos if not info.is_dir()]
            problems = [Problem("package", f"{shown(path)}: entry {quoted(info.filename)} {why}; refused")
                        for info in _once(infos) if (why := unsafe_name(info.filename) or unreadable(info, counts))]
            if not files:
                problems.append(Problem("package", f"{shown(path)} holds no files"))
            if problems:
                raise InputError(problems)
            secrets = sensitive.find([info.filename for info in files], lambda name: _head(archive, name))
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as handle:
            while chunk := handle.read(codec.CHUNK):
                digest.update(chunk)
    except _UNREADABLE as exc:
        raise InputError([Problem("package", f"{shown(path)} is not a readable zip archive ({exc})")]) from exc
    except OSError as exc:
        raise InputError([Problem("package", f"could not read {shown(path)}: {exc.strerror or exc}")]) from exc
    warnings = (sensitive.warning(secrets, "rebuild the zip without them if they should not be deployed."),) if secrets else ()
    return artifact(path, len(files), sum(info.file_size for info in files), digest, warnings)


def unreadable(info: zipfile.ZipInfo, counts: Counter[str]) -> str | None:
    """Why the cloud would not unpack the entry as the zip means it, or None."""
    if counts[info.filename] > 1:
        return f"is in the zip {counts[info.filename]} times (which one is unpacked depends on the unzip tool)"
    if info.flag_bits & _ENCRYPTED:
        return "is encrypted (no cloud has the password to unpack it)"
    if info.compress_type not in _METHODS:
        return f"uses compression method {info.compress_type}, which is not stored, deflate, bzip2 or LZMA"
    return None


def _once(infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The entries, a name given several times listed once (one problem per name)."""
    return list({info.filename: info for info in infos}.values())


def _head(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as member:
        return member.read(sensitive.PEM_READ_LIMIT)

