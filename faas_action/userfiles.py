"""Files the user names in an input, read without trusting them.

Owns: reading such a file (the `config` file, a credentials file) so that nothing in the
workspace or the environment can hang or flood the run: only a regular file is read (a FIFO,
socket, device or directory is refused without blocking: the file is opened with O_NONBLOCK and
checked with fstat before any read), at most `limit` bytes are read, and the text must be UTF-8
(a leading byte-order mark is dropped). Each refusal is a `UserFileError` with a one-line
reason; `special_kind` names what a path is when it is there but not a regular file.
Must not: resolve or police paths (config/ keeps them inside the workspace) or parse content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class UserFileError(ValueError):
    """The file cannot be used; the message says why, in a few words."""


def read_text(path: Path, limit: int) -> str:
    """The UTF-8 text of the regular file at `path`, at most `limit` bytes, or UserFileError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserFileError("does not exist") from None
    except OSError as exc:  # a socket (ENXIO), no permission, a loop of symlinks...
        if os.path.exists(path) and not os.path.isfile(path):
            raise UserFileError(f"is {_kind(path)}, not a regular file") from None
        raise UserFileError(f"cannot be opened: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserFileError(f"is {_kind_of(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UserFileError(f"is larger than {_size(limit)} ({_size(info.st_size)})")
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise UserFileError(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew since fstat
        raise UserFileError(f"is larger than {_size(limit)}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserFileError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded)"
        ) from None


def special_kind(path: str | Path) -> str | None:
    """"a FIFO (named pipe)", "a directory", ... when `path` is there but is not a regular file
    (a symlink is followed; nothing is opened); None for a regular file or nothing at all."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else _kind_of(mode)


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _kind(path: Path) -> str:
    try:
        return _kind_of(os.stat(path).st_mode)
    except OSError:
        return "a special file"


def _kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a special file"


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size:,} bytes"
