"""Reproducible zip packages.

Owns: which files go in (ignore files in gitignore syntax, the always-excluded credentials and
VCS folders, symlink rules), how they are stored (sorted names, fixed 1980-01-01 timestamps,
normalised modes, each entry deflated or stored), the artifact's hashes and sizes, and a copy
written where the user asked (`export`, for `package-out`).
Must not: know any cloud API or size limit of a provider (providers check those on the Artifact),
or hold a big file whole in memory.

`build` streams: `walk` lists the tree in archive order (each directory's children sorted, which
is the order of the full names) and `write_zip` packs each entry as it is listed; symlink
problems are collected on the way and raised once the walk is over, before the zip is used.
`write_zip` is the fast writer. The calling thread reads small files (bounded read-ahead), a
pool packs them in batches (CRC-32, store-or-deflate, local header; the codecs release the GIL),
the calling thread runs pool jobs itself while it waits, and writes the batches, then the central
directory and end records, in order, feeding every byte to the SHA-256 as it goes. A file over
STREAM_THRESHOLD is read in CHUNK pieces, each deflated as a segment of its own that ends with a
full flush (pigz-style, fixed boundaries, so any number of workers gives the same bytes); its
local header is patched once the compressed size is known, and that entry alone is read back for
the hash (a placeholder keeps memory bounded whatever the file's size).
The default codec, FAST, picks the deflate implementation by file size (see `_fast_compress`).
`write_zip_simple` is the reference: zipfile, one thread, zlib level 6 (in the same CHUNK
segments for files over STREAM_THRESHOLD, so that the two writers can be compared byte for byte).
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
import heapq
import os
import queue
import shutil
import stat
import struct
import sys
import tempfile
import threading
import zipfile
import zlib
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Union

import deflate
import pathspec
from isal import isal_zlib

from .errors import InputError, PackagingError, Problem
from .models import Artifact

ALWAYS_EXCLUDED = (".git/", ".github/", "gha-creds-*.json", ".faasignore")
OWN_IGNORE_FILE = ".faasignore"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
EXECUTABLE_NAMES = frozenset({"bootstrap"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One file to store: its name in the archive, where to read it (`fspath`, a string: a Path
    per file costs more than listing the file), its normalised mode and its size when listed."""

    name: str
    fspath: str
    mode: int
    size: int

    @property
    def path(self) -> Path:
        return Path(self.fspath)


def ignore_spec(
    source: Path, provider_ignore_file: str | None, default_ignores: Iterable[str] = (), exclude: Iterable[str] = ()
) -> pathspec.GitIgnoreSpec:
    """The exclusion rules: always-excluded paths plus `.faasignore`, else the provider's file,
    else the provider's defaults (gcloud's, for example); then `exclude`, last so that no `!`
    line of an ignore file can bring those paths back."""
    lines = list(ALWAYS_EXCLUDED)
    for name in (OWN_IGNORE_FILE, provider_ignore_file):
        if name and (source / name).is_file():
            lines.extend(_expand_includes(source, source / name))
            break
    else:
        lines.extend(_expand_default(source, default_ignores))
    lines.extend(exclude)
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
    """Every file to package, sorted by archive name. Symlinks leaving `source`, dangling or
    looping are an InputError listing all of them."""
    problems: list[Problem] = []
    entries = list(walk(source, spec, problems))
    if problems:
        raise InputError(problems)
    return entries


def walk(source: Path, spec: pathspec.GitIgnoreSpec, problems: list[Problem]) -> Iterator[Entry]:
    """`collect`'s entries, yielded as the tree is listed, in the same (sorted) order. A symlink
    problem is appended to `problems` and the walk goes on: the caller must check `problems`
    once the walk is over and raise InputError before using what it built from the entries.

    Depth first, each directory's children sorted by name + "/" for a directory and by name for
    a file: that is the order of the full names, since a directory's names all start with its
    name + "/" (so `a.txt` comes before `a/b`, as "." sorts before "/")."""
    root = os.path.realpath(source)
    pending: list[Iterator[Entry | _Directory]] = [iter(_listing(_Directory(root, "", root, frozenset({root})), root, spec, problems))]
    while pending:
        for item in pending[-1]:
            if isinstance(item, Entry):
                yield item
            else:  # descend; the parent's iterator resumes after it
                pending.append(iter(_listing(item, root, spec, problems)))
                break
        else:
            pending.pop()


class _Directory(NamedTuple):
    """A directory to list: where it is, its names' prefix in the archive, its real path and
    the real paths above it (a symlink back to one of them is a loop)."""

    fspath: str
    prefix: str
    real: str
    ancestors: frozenset[str]


def _listing(directory: _Directory, root: str, spec: pathspec.GitIgnoreSpec, problems: list[Problem]) -> list[Entry | _Directory]:
    """A directory's files and subdirectories that are packaged, in archive order."""
    keyed: list[tuple[str, Entry | _Directory]] = []
    inside = root.rstrip("/") + "/"
    with os.scandir(directory.fspath) as listing:
        children = sorted(listing, key=_entry_name)  # problems come in a stable order
    for child in children:
        name = directory.prefix + child.name
        is_dir = child.is_dir(follow_symlinks=True)
        if spec.match_file(name + "/" if is_dir else name):
            continue
        if child.is_symlink():
            real = os.path.realpath(child.path)
            if not os.path.exists(real):
                problems.append(Problem("source", f"symlink {name!r} points to a missing file; refused"))
                continue
            if real != root and not real.startswith(inside):
                problems.append(Problem("source", f"symlink {name!r} leaves the source directory ({real}); refused"))
                continue
        else:
            real = directory.real.rstrip("/") + "/" + child.name  # no symlink on the way: no syscall
        if is_dir:
            if real in directory.ancestors:
                problems.append(Problem("source", f"symlink {name!r} loops back to a parent directory; refused"))
                continue
            keyed.append((name + "/", _Directory(child.path, name + "/", real, directory.ancestors | {real})))
            continue
        info = child.stat(follow_symlinks=True)
        if not stat.S_ISREG(info.st_mode):
            continue  # sockets, fifos: nothing a function can use
        executable = bool(info.st_mode & 0o111) or child.name in EXECUTABLE_NAMES
        keyed.append((name, Entry(name, child.path, 0o755 if executable else 0o644, info.st_size)))
    keyed.sort(key=itemgetter(0))
    return [item for _, item in keyed]


def _entry_name(child: os.DirEntry) -> str:
    return child.name


# ---------------------------------------------------------------------------------------------
# How entries are stored. Both writers below produce the same archive (see the module docstring).

ZIP64_LIMIT = (1 << 31) - 1  # zipfile's threshold: both writers switch to zip64 at the same sizes
STREAM_THRESHOLD = 4 << 20  # bigger files are read and deflated in CHUNK segments, never held whole
CHUNK = 1 << 20
SMALL_FILE, LARGE_FILE = 32 << 10, 1 << 20  # the FAST codec's tiers (see _fast_compress)
SWITCH_INTERVAL = 0.001  # sys.setswitchinterval while packing with threads (default 0.005)
BATCH_BYTES = 256 << 10  # small files go to the workers in batches: one future per ~256 KiB
BATCH_ENTRIES = 64
WINDOW_BYTES = 32 << 20  # at most this much input read ahead of the writer (bounds memory)
PROBE_SLICE = 1024  # bytes sampled at the start, middle and end of a file
PROBE_RATIO = 0.9  # a non-text sample that deflates to more than this is stored as is

_FINAL_BLOCK = b"\x03\x00"  # an empty final block (fixed Huffman codes): ends a chunked stream
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

Buffer = Union[bytes, bytearray]


@dataclass(frozen=True)
class Codec:
    """A raw-deflate (wbits -15) implementation: `compress` for a whole file of up to
    STREAM_THRESHOLD bytes, `compressobj` for each CHUNK of a bigger one (see `_deflate_chunk`).
    Every codec gives a valid archive; only the deflate streams differ."""

    name: str
    compress: Callable[[bytes], Buffer]
    compressobj: Callable[[], Any]


def _fast_compress(data: bytes) -> Buffer:
    """libdeflate level 1 below SMALL_FILE, libdeflate level 4 below LARGE_FILE, ISA-L level 3
    from there. Measured on the reference tree (bench/make_tree.py, one thread): libdeflate 4's
    extra time saves the most bytes per CPU-second on files of tens to hundreds of KiB; below
    32 KiB level 1 is nearly as dense for half the time; from 1 MiB (CSV, JSON data) ISA-L 3 is
    2-3x faster than libdeflate 4 for 1-2% more bytes, and big files' chunks use it anyway
    (libdeflate cannot end a segment without ending the stream). Altogether about a quarter more
    deflate CPU than ISA-L 3 for every file (0.68 against 0.54 CPU-s) for an archive of 1.026x
    Info-ZIP's size instead of 1.040x.
    No ISA-L below 1 MiB: it is faster there, but its level 2 was seen to deflate the same small
    input differently in one process than in another (valid either way, but the archive must be
    the same bytes); libdeflate's output depends only on the input and the level."""
    if len(data) < SMALL_FILE:
        return deflate.deflate_compress(data, 1)
    if len(data) < LARGE_FILE:
        return deflate.deflate_compress(data, 4)
    return isal_zlib.compress(data, 3, -15)


# ISA-L's levels run 0-3; python-isal passes the level straight through, so 3 is ISA-L's best.
_ISAL3_OBJ = functools.partial(isal_zlib.compressobj, 3, isal_zlib.DEFLATED, -15)
FAST = Codec("libdeflate 1 below 32 KiB, libdeflate 4 below 1 MiB, ISA-L 3 above", _fast_compress, _ISAL3_OBJ)
ISAL = Codec("ISA-L level 3", functools.partial(isal_zlib.compress, level=3, wbits=-15), _ISAL3_OBJ)
# zipfile's own compressor (level 6 = zlib's default): with it write_zip gives write_zip_simple's bytes.
ZLIB = Codec("zlib level 6", functools.partial(zlib.compress, level=6, wbits=-15), functools.partial(zlib.compressobj, 6, zlib.DEFLATED, -15))


def _deflate_chunk(compressobj: Callable[[], Any], data: bytes) -> bytes:
    """One CHUNK of a big file as a deflate segment of its own: a fresh compressor (no reference
    to earlier chunks) ended by a full flush (byte-aligned, not final). Segments can be made in
    any order on any thread and concatenated; `_FINAL_BLOCK` after the last one ends the stream."""
    compressor = compressobj()
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


class _ChunkedCompressor:
    """zipfile's compressor interface (compress, flush) cutting the stream into the CHUNK
    segments `write_zip` makes for a big file, so that the reference writer gives its bytes."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.pending = bytearray()

    def compress(self, data: bytes) -> bytes:
        self.pending += data
        out = []
        while len(self.pending) >= CHUNK:
            out.append(_deflate_chunk(self.codec.compressobj, bytes(self.pending[:CHUNK])))
            del self.pending[:CHUNK]
        return b"".join(out)

    def flush(self) -> bytes:
        last = _deflate_chunk(self.codec.compressobj, bytes(self.pending)) if self.pending else b""
        return last + _FINAL_BLOCK


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
    without a probe; anything else is stored when most slices do not shrink under a fast probe,
    libdeflate level 1 (a binary's compressible header must not decide for the random bytes
    behind it)."""
    if not any(sample):
        return True
    if all(piece.isascii() for piece in sample):
        return False
    stubborn = sum(len(deflate.deflate_compress(piece, 1)) > len(piece) * PROBE_RATIO for piece in sample)
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


def write_zip_simple(entries: Iterable[Entry], destination: Path) -> None:
    """The reference writer: zipfile, one thread, zlib level 6, the same store-or-deflate choice;
    a file over STREAM_THRESHOLD is deflated in CHUNK segments as `write_zip` deflates it."""
    with zipfile.ZipFile(destination, "w", strict_timestamps=False) as archive:
        for entry in entries:
            with open(entry.fspath, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                stored = incompressible(_sample_fd(handle.fileno(), size))
                info = zip_info(entry, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
                info.file_size = entry.size  # zipfile picks zip64 from this, as _zip64() does
                with archive.open(info, "w", force_zip64=_zip64(entry)) as out:
                    if entry.size > STREAM_THRESHOLD and not stored:
                        assert out._compressor is not None  # zipfile's own zlib compressor, replaced
                        out._compressor = _ChunkedCompressor(ZLIB)
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


class _Batch(NamedTuple):
    """Consecutive small entries packed by a worker: their local headers and data back to back,
    and each entry's record with its length in `data`."""

    data: bytes
    records: list[tuple[_Record, int]]


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
    and must win it back from the other threads."""
    fd = os.open(entry.fspath, os.O_RDONLY | _O_CLOEXEC)
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


def _pack_batch(batch: list[tuple[Entry, bytes]], codec: Codec) -> _Batch:
    """Small files' entries from their whole contents (a pool job: any thread)."""
    parts: list[Buffer] = []
    records = []
    for entry, data in batch:
        crc = isal_zlib.crc32(data)
        if incompressible(_sample_of(data)):
            method, out = zipfile.ZIP_STORED, data
        else:
            method, out = zipfile.ZIP_DEFLATED, codec.compress(data)
        record = _record(entry, method, crc, len(out), len(data))
        header = _local_header(record)
        parts += (header, out)
        records.append((record, len(header) + len(out)))
    return _Batch(b"".join(parts), records)


class _BigStart(NamedTuple):
    """A big file's chunks follow in the job stream."""

    entry: Entry
    method: int


class _BigEnd(NamedTuple):
    """A big file's chunks are all in the job stream: its CRC-32 and size as read."""

    entry: Entry
    method: int
    crc: int
    size: int


class _ArchiveWriter:
    """Appends entries to a file descriptor in the order given, then the central directory and
    end records, byte for byte as zipfile.ZipFile writes them (each entry's central record is
    made as the entry is written, not all at the end). With a `digest` (hashlib), every byte of
    the archive goes through `digest.update` in order: from memory as it is written, but for a big
    file's entry, read back once its header is patched. `fd` must then be readable."""

    def __init__(self, fd: int, digest: Any = None) -> None:
        self.fd = fd
        self.digest = digest
        self.offset = 0
        self.central: list[bytes] = []
        self.unzipped_size = 0
        self.big_start: int | None = None  # offset of the big file being written, if any

    def _write(self, buffers: list[Buffer]) -> None:
        _write_all(self.fd, buffers)
        for buffer in buffers:
            self.offset += len(buffer)
            if self.digest is not None and self.big_start is None:
                self.digest.update(buffer)

    def _recorded(self, record: _Record, offset: int) -> None:
        self.central.append(_central_record(record, offset))
        self.unzipped_size += record.size

    def add_batch(self, batch: _Batch) -> None:
        """Entries made by _pack_batch, written with one system call."""
        offset = self.offset
        for record, length in batch.records:
            self._recorded(record, offset)
            offset += length
        self._write([batch.data])

    def begin_big(self, start: _BigStart) -> None:
        """A big file: a placeholder header now, its chunks with add_chunk, then end_big."""
        self.big_start = self.offset
        self._write([_local_header(_record(start.entry, start.method, 0, 0, 0))])

    def add_chunk(self, data: Buffer) -> None:
        self._write([data])

    def end_big(self, end: _BigEnd) -> None:
        """The real header written over the placeholder (zipfile does the same with seek)."""
        if end.method == zipfile.ZIP_DEFLATED:
            self._write([_FINAL_BLOCK])
        start, self.big_start = self.big_start, None
        assert start is not None
        placeholder_length = len(_local_header(_record(end.entry, end.method, 0, 0, 0)))
        record = _record(end.entry, end.method, end.crc, self.offset - start - placeholder_length, end.size)
        header = _local_header(record)
        assert len(header) == placeholder_length
        os.pwrite(self.fd, header, start)
        self._recorded(record, start)
        if self.digest is not None:
            self.digest.update(header)
            position = start + len(header)
            while position < self.offset:
                piece = os.pread(self.fd, min(CHUNK, self.offset - position), position)
                if not piece:
                    raise PackagingError("the package file shrank while it was being written")
                self.digest.update(piece)
                position += len(piece)

    def finish(self) -> ZipStats:
        """The central directory and end records, as zipfile.ZipFile._write_end_record writes them."""
        directory = b"".join(self.central)
        count, size, offset = len(self.central), len(directory), self.offset
        tail = []
        if count > 0xFFFF or offset > ZIP64_LIMIT or size > ZIP64_LIMIT:
            tail.append(_END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset))
            tail.append(_LOCATOR64.pack(b"PK\x06\x07", 0, offset + size, 1))
            count, size, offset = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(offset, 0xFFFFFFFF)
        tail.append(_END.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0))
        self._write([directory, b"".join(tail)])
        return ZipStats(len(self.central), self.unzipped_size)


def _central_record(r: _Record, offset: int) -> bytes:
    """An entry's central directory record, as zipfile.ZipFile._write_end_record lays it out."""
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
    return fixed + r.name + extra


def _write_all(fd: int, buffers: list[Buffer]) -> None:
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


def write_zip(entries: Iterable[Entry], destination: Path, workers: int | None = None, codec: Codec = FAST, digest: Any = None) -> ZipStats:
    """Write `entries` in order as a reproducible zip, packing entries in parallel; `entries`
    may be a generator (`walk`): each entry is packed as soon as it comes.

    The bytes depend only on the entries' contents and the codec, never on `workers` (default:
    os.cpu_count()): the calling thread and `workers - 1` more pack (see _Pool). Small files are
    read whole by the calling thread and packed in batches, at most WINDOW_BYTES ahead of the
    writer; a file over STREAM_THRESHOLD is read by the calling thread in CHUNK pieces, each
    deflated as a job of its own, at most `workers + 1` pieces ahead of the writer. With a
    `digest` (e.g. hashlib.sha256()), it has been fed every byte of the archive when this returns.
    While threads pack, the interpreter's switch interval is SWITCH_INTERVAL (restored after): a
    thread back from a system call waits less for the GIL.
    """
    workers = max(1, (os.cpu_count() or 1) if workers is None else workers)
    access = os.O_RDWR if digest is not None else os.O_WRONLY  # a big entry is read back to hash it
    fd = os.open(destination, access | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o644)
    switch_interval = sys.getswitchinterval()
    if workers > 1:
        sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        archive = _ArchiveWriter(fd, digest)
        with _Pool(workers - 1) as pool:
            for job in _schedule(pool, entries, codec, max_chunks=workers + 1):
                if isinstance(job, Future):
                    result = pool.result(job)
                    if isinstance(result, _Batch):
                        archive.add_batch(result)
                    else:
                        archive.add_chunk(result)
                elif isinstance(job, _BigStart):
                    archive.begin_big(job)
                else:
                    archive.end_big(job)
        return archive.finish()
    finally:
        sys.setswitchinterval(switch_interval)
        os.close(fd)


class _Pool:
    """`threads` background threads and the calling thread run the jobs of one queue, in order:
    waiting for a result, the calling thread runs queued jobs itself. So `workers` (= threads +
    1) threads pack, never more: the caller, which also walks, reads and writes, is not left
    to share two cores with two deflating threads, and with `threads=0` everything runs on the
    caller, when its result is needed."""

    def __init__(self, threads: int) -> None:
        self.jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name=f"faas-zip-{i}", daemon=True) for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self.jobs.put((future, function, args))
        return future

    def result(self, future: Future) -> Any:
        """The job's result, running queued jobs here until it is done."""
        while not future.done():
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break  # the job is running on a background thread: wait for it
            if job is not None:
                self._run(*job)
        return future.result()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            self._run(*job)

    @staticmethod
    def _run(future: Future, function: Callable[..., Any], args: tuple) -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(function(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        """Cancels what has not started (on an error), lets the threads finish their jobs, joins them."""
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()


_Job = Union[Future, _BigStart, _BigEnd]


def _schedule(pool: _Pool, entries: Iterable[Entry], codec: Codec, max_chunks: int) -> Iterator[_Job]:
    """The archive's jobs in order: a future per batch of small files (read here, on the writing
    thread, packed on the pool), and for a big file its start, a future per chunk, its end.

    Reading stays on one thread: reading in the pool's threads was measured no faster (file
    system calls from several threads fight over the GIL, while deflating runs outside it).
    At most WINDOW_BYTES of input is read and not yet written, and at most `max_chunks` chunks
    of a big file: that bounds the memory held."""
    pending: deque[tuple[_Job, int, bool]] = deque()  # job, input bytes it holds, is a chunk
    in_flight = chunks = 0
    batch: list[tuple[Entry, bytes]] = []
    batch_bytes = 0

    def push(job: _Job, size: int, chunk: bool) -> None:
        nonlocal in_flight, chunks
        pending.append((job, size, chunk))
        in_flight += size
        chunks += chunk

    def submit_batch() -> None:
        nonlocal batch, batch_bytes
        if batch:
            push(pool.submit(_pack_batch, batch, codec), batch_bytes, False)
            batch, batch_bytes = [], 0

    def ready() -> Iterator[_Job]:
        nonlocal in_flight, chunks
        while pending and (in_flight > WINDOW_BYTES or chunks > max_chunks):
            job, size, chunk = pending.popleft()
            in_flight -= size
            chunks -= chunk
            yield job

    for entry in entries:
        if entry.size > STREAM_THRESHOLD:
            submit_batch()
            for job, size in _big_file_jobs(pool, entry, codec):
                push(job, size, isinstance(job, Future))
                yield from ready()
        else:
            data = _read(entry)
            batch.append((entry, data))
            batch_bytes += len(data)
            if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_ENTRIES:
                submit_batch()
        yield from ready()
    submit_batch()
    for job, _, _ in pending:
        yield job


def _big_file_jobs(pool: _Pool, entry: Entry, codec: Codec) -> Iterator[tuple[_Job, int]]:
    """A big file's jobs with the input bytes each holds: start, one per CHUNK read (deflated
    on the pool, or the chunk itself if the file is stored), end with CRC-32 and size."""
    fd = os.open(entry.fspath, os.O_RDONLY | _O_CLOEXEC)
    try:
        stored = incompressible(_sample_fd(fd, os.fstat(fd).st_size))
        method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        yield _BigStart(entry, method), 0
        crc = size = 0
        while chunk := os.read(fd, CHUNK):
            crc = isal_zlib.crc32(chunk, crc)
            size += len(chunk)
            yield (_done(chunk) if stored else pool.submit(_deflate_chunk, codec.compressobj, chunk)), len(chunk)
        yield _BigEnd(entry, method, crc, size), 0
    finally:
        os.close(fd)


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def describe(path: Path) -> Artifact:
    """Hashes and sizes of a zip on disk."""
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return _artifact(path, ZipStats(len(infos), sum(i.file_size for i in infos)), digest)


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


def _artifact(path: Path, stats: ZipStats, digest: Any) -> Artifact:
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
    dependencies: Path | None = None,
    exclude: Iterable[str] = (),
) -> Artifact:
    """Package `source` into a zip written outside the workspace; return its Artifact.
    `workers` threads pack (default os.cpu_count()); the bytes do not depend on it.
    `dependencies`, a directory of installed packages, is merged into the archive's root beside
    the source; the ignore rules apply to the source only. A name in both is an InputError.
    `exclude` adds gitignore lines that no ignore file can undo (the dependency cache, say).
    The walk feeds the writer as it goes. Symlink problems (all of them) or nothing to package
    are an InputError, raised once the walk is over; the partial zip is removed."""
    spec = ignore_spec(source, provider_ignore_file, default_ignores, exclude)
    out_dir = _outside(out_dir, workspace)
    destination = out_dir / "package.zip"
    problems: list[Problem] = []
    digest = hashlib.sha256()
    entries = walk(source, spec, problems)
    if dependencies is not None:
        entries = _merged(entries, walk(dependencies, NOTHING_IGNORED, problems), problems)
    try:
        stats = write_zip(_until_problem(entries, problems), destination, workers=workers, digest=digest)
        if not problems and not stats.file_count:
            problems.append(Problem("source", f"nothing to package in {source} (everything is ignored or it is empty)"))
        if problems:
            raise InputError(problems)
    except BaseException as exc:
        destination.unlink(missing_ok=True)
        out_dir.rmdir()
        if isinstance(exc, OSError):  # an unreadable file or folder, a full disk
            raise PackagingError(f"could not package {source}: {exc}") from exc
        raise
    return _artifact(destination, stats, digest)  # the writer counted and hashed: no need to read the zip back


NOTHING_IGNORED = pathspec.GitIgnoreSpec.from_lines([])


def _merged(source: Iterator[Entry], dependencies: Iterator[Entry], problems: list[Problem]) -> Iterator[Entry]:
    """Two walks in archive order, merged into one (both are sorted by full name). A file that
    both hold is a problem: the source would silently shadow an installed file, or the reverse."""
    previous = None
    for entry in heapq.merge(source, dependencies, key=_entry_key):
        if previous is not None and entry.name == previous:
            problems.append(Problem("dependencies", f"{entry.name!r} is both in the source and among the installed dependencies"))
            continue
        previous = entry.name
        yield entry


def _entry_key(entry: Entry) -> str:
    return entry.name


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
    if base.resolve() == workspace or workspace in base.resolve().parents:
        base = Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix="faas-package-", dir=base))
