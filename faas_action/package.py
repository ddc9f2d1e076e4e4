"""Reproducible zip packages.

Owns: which files go in (ignore files in gitignore syntax, the always-excluded credentials and
VCS folders, symlink rules), how they are stored (sorted names, fixed 1980-01-01 timestamps,
normalised modes, each entry deflated or stored) and the artifact's hashes and sizes.
Must not: know any cloud API or size limit of a provider (providers check those on the Artifact).

Two writers make the same archive. `write_zip` is the fast one: the calling thread reads small
files (bounded read-ahead), a pool of threads raw-deflates each entry on its own (ISA-L level 3,
which releases the GIL) or stores it, and the calling thread writes entries, central directory and
end records in sorted order; big files are streamed in chunks, never held whole.
`write_zip_simple` is the reference: zipfile, one thread, zlib level 6.
"The same archive" means: the same entries in the same order with the same names, modes,
timestamps, method (stored or deflated, decided by `incompressible()` from the content alone),
CRC-32, sizes and contents, and headers laid out byte for byte as zipfile lays them out. Only the
deflate streams (hence compressed sizes and offsets) differ between codecs: `write_zip` with the
`ZLIB` codec reproduces `write_zip_simple`'s bytes exactly, for any number of workers.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import pathspec
from isal import isal_zlib

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


# ---------------------------------------------------------------------------------------------
# How entries are stored. Both writers below produce the same archive (see the module docstring).

ZIP64_LIMIT = (1 << 31) - 1  # zipfile's threshold: both writers switch to zip64 at the same sizes
STREAM_THRESHOLD = 4 << 20  # bigger files are read and deflated in chunks, never held whole
CHUNK = 1 << 20
BATCH_BYTES = 256 << 10  # small files go to the workers in batches: one future per ~256 KiB
BATCH_ENTRIES = 64
WINDOW_BYTES = 32 << 20  # at most this much input read ahead of the writer (bounds memory)
PROBE_SLICE = 1024  # bytes sampled at the start, middle and end of a file
PROBE_RATIO = 0.9  # a non-text sample that deflates to more than this is stored as is

_DOS_DATE = (ZIP_EPOCH[0] - 1980) << 9 | ZIP_EPOCH[1] << 5 | ZIP_EPOCH[2]
_DOS_TIME = ZIP_EPOCH[3] << 11 | ZIP_EPOCH[4] << 5 | ZIP_EPOCH[5] // 2
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile.structCentralDir
_END = struct.Struct("<4s4H2LH")  # zipfile.structEndArchive
_END64 = struct.Struct("<4sQ2H2L4Q")  # zipfile.structEndArchive64
_LOCATOR64 = struct.Struct("<4sLQL")  # zipfile.structEndArchive64Locator
_VERSION, _VERSION64 = 20, 45  # zipfile.DEFAULT_VERSION, ZIP64_VERSION
_UTF8_NAME = 0x800
_IOV_MAX = 1024  # Linux limit on buffers per writev
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Codec:
    """A raw-deflate (wbits -15) implementation: `compress` for a whole small file, `compressobj`
    for streaming a big one. Every codec gives a valid archive; only the deflate streams differ."""

    name: str
    compress: Callable[[bytes], bytes]
    compressobj: Callable[[], Any]


# ISA-L's levels run 0-3; python-isal passes the level straight through, so 3 is ISA-L's best.
ISAL = Codec("ISA-L level 3", functools.partial(isal_zlib.compress, level=3, wbits=-15), functools.partial(isal_zlib.compressobj, 3, isal_zlib.DEFLATED, -15))
# zipfile's own compressor (level 6 = zlib's default): with it write_zip gives write_zip_simple's bytes.
ZLIB = Codec("zlib level 6", functools.partial(zlib.compress, level=6, wbits=-15), functools.partial(zlib.compressobj, 6, zlib.DEFLATED, -15))


def zip_info(entry: Entry, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """The fixed header of an entry: 1980 timestamp, Unix regular file with normalised mode."""
    info = zipfile.ZipInfo(entry.name, date_time=ZIP_EPOCH)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | entry.mode) << 16
    info.compress_type = compress_type
    return info


def incompressible(sample: list[bytes]) -> bool:
    """Store rather than deflate? Decided from the content alone, so every writer, codec and
    worker count agrees. `sample` is the whole of a small file, else slices of its start,
    middle and end. Empty files are stored (deflate would add two bytes); text is deflated
    without a probe; anything else is stored when most slices do not shrink under a fast probe
    (a binary's compressible header must not decide for the random bytes behind it)."""
    if not any(sample):
        return True
    if all(piece.isascii() for piece in sample):
        return False
    stubborn = sum(len(isal_zlib.compress(piece, 1, -15)) > len(piece) * PROBE_RATIO for piece in sample)
    return stubborn * 2 > len(sample)


def _probe_slices(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the probe slices: the whole of a small file, else start, middle, end."""
    if size <= 3 * PROBE_SLICE:
        return [(0, size)]
    return [(0, PROBE_SLICE), ((size - PROBE_SLICE) // 2, PROBE_SLICE), (size - PROBE_SLICE, PROBE_SLICE)]


def _sample_of(data: bytes) -> list[bytes]:
    if len(data) <= 3 * PROBE_SLICE:
        return [data]
    return [data[offset : offset + length] for offset, length in _probe_slices(len(data))]


def _sample_fd(fd: int, size: int) -> list[bytes]:
    return [os.pread(fd, length, offset) for offset, length in _probe_slices(size)]


def write_zip_simple(entries: list[Entry], destination: Path) -> None:
    """The reference writer: zipfile, one thread, zlib level 6, the same store-or-deflate choice."""
    with zipfile.ZipFile(destination, "w", strict_timestamps=False) as archive:
        for entry in entries:
            with open(entry.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                stored = incompressible(_sample_fd(handle.fileno(), size))
                info = zip_info(entry, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
                info.file_size = entry.size  # zipfile picks zip64 from this, as _zip64() does
                with archive.open(info, "w", force_zip64=_zip64(entry)) as out:
                    while chunk := handle.read(CHUNK):
                        out.write(chunk)


class _Record(NamedTuple):
    """What the central directory needs of an entry, all but its offset."""

    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    external_attr: int
    zip64: bool


class _Packed(NamedTuple):
    """One entry ready to write: its local header, its (deflated or stored) data, its record."""

    header: bytes
    data: bytes
    record: _Record


def _name(entry: Entry) -> tuple[bytes, int]:
    """The name's bytes and flags as zipfile encodes them: ASCII, else UTF-8 with bit 11 set."""
    try:
        return entry.name.encode("ascii"), 0
    except UnicodeEncodeError:
        return entry.name.encode("utf-8"), _UTF8_NAME


def _zip64(entry: Entry) -> bool:
    """zipfile's rule for a zip64 local header (compressed data may outgrow the input by ~5%)."""
    return entry.size * 1.05 > ZIP64_LIMIT


def _local_header(record: _Record) -> bytes:
    """A local file header laid out as zipfile.ZipInfo.FileHeader lays it out."""
    compressed, size, extra, version = record.compressed, record.size, b"", _VERSION
    if record.zip64:
        extra = struct.pack("<HHQQ", 1, 16, size, compressed)
        compressed = size = 0xFFFFFFFF
        version = _VERSION64
    elif max(size, compressed) > ZIP64_LIMIT:
        raise PackagingError(f"{record.name.decode('utf-8', 'replace')} grew past 2 GiB while it was being packaged")
    fixed = _LOCAL.pack(b"PK\x03\x04", version, 0, record.flags, record.method, _DOS_TIME, _DOS_DATE, record.crc, compressed, size, len(record.name), len(extra))
    return fixed + record.name + extra


def _record(entry: Entry, method: int, crc: int, compressed: int, size: int) -> _Record:
    name, flags = _name(entry)
    return _Record(name, flags, method, crc, compressed, size, (stat.S_IFREG | entry.mode) << 16, _zip64(entry))


def _read(entry: Entry) -> bytes:
    """A small file's content, in as few system calls as possible: each one releases the GIL
    and must win it back from the deflating threads."""
    fd = os.open(entry.path, os.O_RDONLY | _O_CLOEXEC)
    try:
        data = os.read(fd, entry.size + 1)
        if len(data) <= entry.size:
            return data  # a regular file reads short only at its end
        parts = [data]  # it grew since it was listed
        while chunk := os.read(fd, CHUNK):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def _pack(entry: Entry, data: bytes, codec: Codec) -> _Packed:
    """A small file's entry from its whole content (runs on a worker thread)."""
    crc = isal_zlib.crc32(data)
    if incompressible(_sample_of(data)):
        method, out = zipfile.ZIP_STORED, data
    else:
        method, out = zipfile.ZIP_DEFLATED, codec.compress(data)
    record = _record(entry, method, crc, len(out), len(data))
    return _Packed(_local_header(record), out, record)


def _pack_batch(batch: list[tuple[Entry, bytes]], codec: Codec) -> list[_Packed]:
    return [_pack(entry, data, codec) for entry, data in batch]


class _ArchiveWriter:
    """Appends entries to a file descriptor in the order given, then the central directory and
    end records, byte for byte as zipfile.ZipFile writes them."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0
        self.records: list[tuple[_Record, int]] = []

    def add(self, packed: list[_Packed]) -> None:
        """Entries made by _pack, written with one system call."""
        buffers = []
        for item in packed:
            self.records.append((item.record, self.offset))
            self.offset += len(item.header) + len(item.data)
            buffers += (item.header, item.data)
        _write_all(self.fd, buffers)

    def add_streamed(self, entry: Entry, codec: Codec) -> None:
        """A big file: a placeholder header, the data in CHUNK pieces, then the real header
        written over the placeholder (zipfile does the same with seek)."""
        with open(entry.path, "rb", buffering=0) as source:
            fd = source.fileno()
            stored = incompressible(_sample_fd(fd, os.fstat(fd).st_size))
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            placeholder = _local_header(_record(entry, method, 0, 0, 0))
            _write_all(self.fd, [placeholder])
            compressor = None if stored else codec.compressobj()
            crc = size = compressed = 0
            while chunk := source.read(CHUNK):
                crc = isal_zlib.crc32(chunk, crc)
                size += len(chunk)
                out = compressor.compress(chunk) if compressor else chunk
                _write_all(self.fd, [out])
                compressed += len(out)
            if compressor:
                out = compressor.flush()
                _write_all(self.fd, [out])
                compressed += len(out)
        record = _record(entry, method, crc, compressed, size)
        header = _local_header(record)
        assert len(header) == len(placeholder)
        os.pwrite(self.fd, header, self.offset)
        self.records.append((record, self.offset))
        self.offset += len(header) + compressed

    def finish(self) -> None:
        """The central directory and end records, as zipfile.ZipFile._write_end_record writes them."""
        start = self.offset
        parts = []
        for r, offset in self.records:
            values = []
            compressed, size = r.compressed, r.size
            if size > ZIP64_LIMIT or compressed > ZIP64_LIMIT:
                values += [size, compressed]
                compressed = size = 0xFFFFFFFF
            if offset > ZIP64_LIMIT:
                values.append(offset)
                offset = 0xFFFFFFFF
            extra = struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values) if values else b""
            # zipfile raises the version once a local header was zip64, even without a zip64 extra here
            version = _VERSION64 if values or r.zip64 else _VERSION
            fixed = _CENTRAL.pack(
                b"PK\x01\x02", version, 3, version, 0, r.flags, r.method, _DOS_TIME, _DOS_DATE, r.crc,
                compressed, size, len(r.name), len(extra), 0, 0, 0, r.external_attr, offset,
            )
            parts += (fixed, r.name, extra)
        directory = b"".join(parts)
        count, size, offset = len(self.records), len(directory), start
        tail = []
        if count > 0xFFFF or offset > ZIP64_LIMIT or size > ZIP64_LIMIT:
            tail.append(_END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset))
            tail.append(_LOCATOR64.pack(b"PK\x06\x07", 0, start + size, 1))
            count, size, offset = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(offset, 0xFFFFFFFF)
        tail.append(_END.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0))
        _write_all(self.fd, [directory, *tail])


def _write_all(fd: int, buffers: list[bytes]) -> None:
    """os.writev until everything is written (a regular file rarely takes less in one call)."""
    for start in range(0, len(buffers), _IOV_MAX):
        pending = [memoryview(b) for b in buffers[start : start + _IOV_MAX] if b]
        while pending:
            written = os.writev(fd, pending)
            while pending and written >= len(pending[0]):
                written -= len(pending[0])
                pending.pop(0)
            if pending and written:
                pending[0] = pending[0][written:]


class ZipStats(NamedTuple):
    file_count: int
    unzipped_size: int


def write_zip(entries: list[Entry], destination: Path, workers: int | None = None, codec: Codec = ISAL) -> ZipStats:
    """Write `entries` in order as a reproducible zip, deflating entries in parallel.

    The bytes depend only on the entries' contents and the codec, never on `workers` (default:
    os.cpu_count()). Small files are read whole by the calling thread and deflated on `workers`
    threads (ISA-L and zlib release the GIL), in batches, at most WINDOW_BYTES ahead of the
    writer; files over STREAM_THRESHOLD are streamed by the calling thread while the workers
    keep going.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o644)
    try:
        archive = _ArchiveWriter(fd)
        if workers <= 1:
            for entry in entries:
                if entry.size > STREAM_THRESHOLD:
                    archive.add_streamed(entry, codec)
                else:
                    archive.add([_pack(entry, _read(entry), codec)])
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="faas-zip") as pool:
                try:
                    for big, future in _read_ahead(pool, entries, codec):
                        if future is None:
                            archive.add_streamed(big, codec)
                        else:
                            archive.add(future.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        archive.finish()
    finally:
        os.close(fd)
    return ZipStats(len(archive.records), sum(record.size for record, _ in archive.records))


def _read_ahead(pool: ThreadPoolExecutor, entries: list[Entry], codec: Codec) -> Iterator[tuple[Entry | None, Future | None]]:
    """Entries in order: small files are read here, on the writing thread, and handed to the pool
    in batches; a big file comes alone with no future (the writer streams it).

    Reading stays on one thread because file system calls from several threads fight over the
    GIL, while the deflating threads spend their time outside it. At most WINDOW_BYTES of input
    is read and not yet written, which bounds the memory held for batches awaiting their turn."""
    pending: deque[tuple[Entry | None, Future | None, int]] = deque()
    in_flight = 0
    batch: list[tuple[Entry, bytes]] = []
    batch_bytes = 0

    def submit() -> None:
        nonlocal batch, batch_bytes, in_flight
        if batch:
            pending.append((None, pool.submit(_pack_batch, batch, codec), batch_bytes))
            in_flight += batch_bytes
            batch, batch_bytes = [], 0

    for entry in entries:
        if entry.size > STREAM_THRESHOLD:
            submit()
            pending.append((entry, None, 0))
        else:
            data = _read(entry)
            batch.append((entry, data))
            batch_bytes += len(data)
            if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_ENTRIES:
                submit()
        while pending and in_flight > WINDOW_BYTES:
            big, future, size = pending.popleft()
            in_flight -= size
            yield big, future
    submit()
    while pending:
        big, future, _ = pending.popleft()
        yield big, future


def describe(path: Path) -> Artifact:
    """Hashes and sizes of a zip on disk."""
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
    return _artifact(path, ZipStats(len(infos), sum(i.file_size for i in infos)))


def _artifact(path: Path, stats: ZipStats) -> Artifact:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return Artifact(
        path=path,
        size=path.stat().st_size,
        sha256=base64.b64encode(digest.digest()).decode("ascii"),
        sha256_hex=digest.hexdigest(),
        unzipped_size=stats.unzipped_size,
        file_count=stats.file_count,
    )


def build(
    source: Path,
    workspace: Path,
    provider_ignore_file: str | None = None,
    default_ignores: Iterable[str] = (),
    out_dir: Path | None = None,
    workers: int | None = None,
) -> Artifact:
    """Package `source` into a zip written outside the workspace; return its Artifact.
    `workers` threads deflate (default os.cpu_count()); the bytes do not depend on it."""
    entries = collect(source, ignore_spec(source, provider_ignore_file, default_ignores))
    if not entries:
        raise InputError([Problem("source", f"nothing to package in {source} (everything is ignored or it is empty)")])
    out_dir = _outside(out_dir, workspace)
    destination = out_dir / "package.zip"
    try:
        stats = write_zip(entries, destination, workers=workers)
    except OSError as exc:
        raise PackagingError(f"could not write the package: {exc}") from exc
    return _artifact(destination, stats)  # the writer knows the counts: no need to parse the zip back


def _outside(out_dir: Path | None, workspace: Path) -> Path:
    """A fresh directory for the zip, never inside the workspace (files there end up root-owned)."""
    base = out_dir or Path(tempfile.gettempdir())
    workspace = workspace.resolve()
    if base.resolve() == workspace or workspace in base.resolve().parents:
        base = Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix="faas-package-", dir=base))
