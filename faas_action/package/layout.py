"""The zip format, laid out byte for byte as Python's zipfile lays it out.

Owns: local headers, central directory records and end records (zip64 where zipfile would use
it), fixed 1980-01-01 timestamps and Unix modes, `ArchiveWriter` (appends entries to a file in
the order given, feeding every byte to a hash), and `write_zip_simple`, the reference writer:
zipfile itself, one thread, the same store-or-deflate decision.
Must not: decide how an entry is stored (codec.py) or which files go in (tree.py).

"The same archive" means: the same entries in the same order with the same names, modes,
timestamps, method, CRC-32, sizes and contents, and headers laid out as zipfile lays them out.
`writer.write_zip` with the ZLIB codec gives exactly `write_zip_simple`'s bytes.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from ..errors import PackagingError
from . import codec
from .codec import Buffer
from .tree import Entry

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP64_LIMIT = (1 << 31) - 1  # zipfile's threshold: both writers switch to zip64 at the same sizes

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


def zip_info(entry: Entry, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """The fixed header of an entry: 1980 timestamp, Unix regular file with normalised mode."""
    info = zipfile.ZipInfo(entry.name, date_time=ZIP_EPOCH)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | entry.mode) << 16
    info.compress_type = compress_type
    return info


class Record(NamedTuple):
    """What the central directory needs of an entry, all but its offset."""

    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    external_attr: int
    zip64: bool


def record(entry: Entry, method: int, crc: int, compressed: int, size: int) -> Record:
    name, flags = _name(entry)
    return Record(name, flags, method, crc, compressed, size, (stat.S_IFREG | entry.mode) << 16, zip64(entry))


def _name(entry: Entry) -> tuple[bytes, int]:
    """The name's bytes and flags as zipfile encodes them: ASCII, else UTF-8 with bit 11 set."""
    if entry.name.isascii():
        return entry.name.encode("ascii"), 0
    return entry.name.encode("utf-8"), _UTF8_NAME


def zip64(entry: Entry) -> bool:
    """zipfile's rule for a zip64 local header (compressed data may outgrow the input by ~5%)."""
    return entry.size * 1.05 > ZIP64_LIMIT


def local_header(r: Record) -> bytes:
    """A local file header laid out as zipfile.ZipInfo.FileHeader lays it out."""
    compressed, size, extra, version = r.compressed, r.size, b"", _VERSION
    if r.zip64:
        extra = struct.pack("<HHQQ", 1, 16, size, compressed)
        compressed = size = 0xFFFFFFFF
        version = _VERSION64
    elif max(size, compressed) > ZIP64_LIMIT:
        raise PackagingError(f"{r.name.decode('utf-8', 'replace')} grew past 2 GiB while it was being packaged")
    fixed = _LOCAL.pack(b"PK\x03\x04", version, 0, r.flags, r.method, _DOS_TIME, _DOS_DATE, r.crc, compressed, size, len(r.name), len(extra))
    return fixed + r.name + extra


def central_record(r: Record, offset: int) -> bytes:
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


class ZipStats(NamedTuple):
    file_count: int
    unzipped_size: int


class ArchiveWriter:
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
        write_all(self.fd, buffers)
        for buffer in buffers:
            self.offset += len(buffer)
            if self.digest is not None and self.big_start is None:
                self.digest.update(buffer)

    def _recorded(self, r: Record, offset: int) -> None:
        self.central.append(central_record(r, offset))
        self.unzipped_size += r.size

    def add(self, data: Buffer, records: Iterable[tuple[Record, int]]) -> None:
        """Consecutive whole entries (local headers and data back to back in `data`, each
        entry's record with its length there), written with one system call."""
        offset = self.offset
        for r, length in records:
            self._recorded(r, offset)
            offset += length
        self._write([data])

    def begin_big(self, entry: Entry, method: int) -> None:
        """A big file: a placeholder header now, its chunks with add_chunk, then end_big."""
        self.big_start = self.offset
        self._write([local_header(record(entry, method, 0, 0, 0))])

    def add_chunk(self, data: Buffer) -> None:
        self._write([data])

    def end_big(self, entry: Entry, method: int, crc: int, size: int) -> None:
        """The real header written over the placeholder (zipfile does the same with seek)."""
        if method == zipfile.ZIP_DEFLATED:
            self._write([codec.FINAL_BLOCK])
        start, self.big_start = self.big_start, None
        assert start is not None
        placeholder_length = len(local_header(record(entry, method, 0, 0, 0)))
        r = record(entry, method, crc, self.offset - start - placeholder_length, size)
        header = local_header(r)
        assert len(header) == placeholder_length
        os.pwrite(self.fd, header, start)
        self._recorded(r, start)
        if self.digest is not None:
            self.digest.update(header)
            position = start + len(header)
            while position < self.offset:
                piece = os.pread(self.fd, min(codec.CHUNK, self.offset - position), position)
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


def write_all(fd: int, buffers: list[Buffer]) -> None:
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


def write_zip_simple(entries: Iterable[Entry], destination: Path, compressor: codec.Codec = codec.ZLIB) -> None:
    """The reference writer: zipfile lays out every header; the store-or-deflate decision and
    the deflated bytes are codec.pack's (for a file held whole) or `compressor`'s CHUNK segments
    (for a bigger one), as in `write_zip`. Defaults to zlib level 6, zipfile's own compressor."""
    with zipfile.ZipFile(destination, "w", strict_timestamps=False) as archive:
        for entry in entries:
            with open(entry.fspath, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size <= codec.HOLD_LIMIT:
                    method, packed = codec.pack(handle.read(), compressor)
                    handle.seek(0)
                    replacement: Any = _Packed(packed)
                else:
                    method = codec.stream_method(size, lambda offset, length: os.pread(handle.fileno(), length, offset))
                    replacement = codec.ChunkedCompressor(compressor)
                info = zip_info(entry, method)
                info.file_size = entry.size  # zipfile picks zip64 from this, as zip64() does
                with archive.open(info, "w", force_zip64=zip64(entry)) as out:
                    if method == zipfile.ZIP_DEFLATED:
                        assert out._compressor is not None  # zipfile's own zlib compressor, replaced
                        out._compressor = replacement
                    while chunk := handle.read(codec.CHUNK):
                        out.write(chunk)


class _Packed:
    """zipfile's compressor interface giving bytes that codec.pack already deflated."""

    def __init__(self, packed: Buffer) -> None:
        self.packed = packed

    def compress(self, data: bytes) -> bytes:
        return b""

    def flush(self) -> bytes:
        return bytes(self.packed)
