"""How an entry's bytes are stored: deflated, or as they are.

Owns: the deflate implementation and level (`DEFAULT`: libdeflate level 5, one call per file),
the store-or-deflate decision and its probe, and the segments that a file too big to hold in
memory is deflated in.
Must not: read files, lay out zip headers, or depend on threads or worker counts: every decision
here is a pure function of a file's bytes (and of the codec, which the product fixes).

The decision for a file held whole (up to HOLD_LIMIT bytes), `pack`, a pure function of its bytes:
- empty: stored (deflate would add two bytes);
- text (its first TEXT_SAMPLE bytes are ASCII): deflated with the codec, no probe;
- anything else: libdeflate level 1 over windows of the file (see `probe_windows`; the whole file
  up to two windows) tells whether it is clearly compressible (it saves CLEAR or more there):
  then it is deflated with the codec. If not, level 1 deflates the whole file (the windows'
  result, when they were the whole file): the file is stored if that does not make it smaller at
  all, and otherwise stored deflated at level 1 (on data this incompressible, higher levels find
  nothing more: its few matches are long repeats);
- a file deflated with the codec is still stored if that did not make it smaller (Info-ZIP's rule).
So a file is stored only when deflate, run over all of it, does not shrink it: a sample decides
nothing but which level to spend. The old probe, three 1 KiB slices, could not see blocks
repeated a few KiB apart and stored files that deflate to half their size; a window of 64 KiB
can, but redundancy that comes in clusters (blocks copied twice from the same distant place) can
fall between windows, which is why the windows never decide to store.
A file over HOLD_LIMIT is decided the same way (`stream_method`), level 1 running over its CHUNKs
one by one when the windows are not clear; if deflated, it is deflated in CHUNK segments: each a
deflate stream of its own ended by a full flush, so that segments can be made in any order on any
thread and concatenated (pigz's layout).

Why libdeflate level 5: measured on the three benchmark trees (docs/benchmarks.md), it is the
cheapest level whose archives stay under Info-ZIP's (zlib level 6) on real code: level 4 makes
Python source 3% and JSON 6% bigger than zlib 6 does, level 5 1% and 4%, which the 52 bytes per
entry that our headers save over Info-ZIP's more than pay for; level 6 costs 15% more time for
1% less. libdeflate's output depends only on its input, level and version (pinned by uv.lock),
not on the CPU it runs on or on what ran before: the no-op detection compares hashes of archives
built on different runners. ISA-L is faster but dispatches to different code per CPU feature
set, and its level 2 was seen to deflate one input two ways in one process.
"""

from __future__ import annotations

import functools
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import deflate

Buffer = Union[bytes, bytearray, memoryview]

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
LEVEL = 5
HOLD_LIMIT = 32 << 20  # bigger files are read and deflated in CHUNK segments, never held whole
CHUNK = 1 << 20
TEXT_SAMPLE = 4 << 10
PROBE_WINDOW = 64 << 10
PROBE_COVERAGE = 8
PROBE_LEVEL = 1
CLEAR = 0.10  # windows that level 1 shrinks by this much: deflate with the codec, no whole-file probe

FINAL_BLOCK = b"\x03\x00"  # an empty final block (fixed Huffman codes): ends a chunked stream


@dataclass(frozen=True)
class Codec:
    """A raw-deflate implementation: `compress` for a whole file of up to HOLD_LIMIT bytes,
    `compressobj` for each CHUNK of a bigger one (see `deflate_chunk`). Every codec gives a
    valid archive; only the deflate streams, and so the files that deflate does not shrink,
    differ."""

    name: str
    compress: Callable[[Buffer], Buffer]
    compressobj: Callable[[], Any]


_ZLIB6_OBJ = functools.partial(zlib.compressobj, 6, zlib.DEFLATED, -15)
DEFAULT = Codec(
    f"libdeflate level {LEVEL} (zlib level 6 for the segments of files over {HOLD_LIMIT >> 20} MiB)",
    functools.partial(deflate.deflate_compress, compresslevel=LEVEL),
    _ZLIB6_OBJ,
)
# zipfile's own compressor (level 6 = zlib's default): with it write_zip gives write_zip_simple's bytes.
ZLIB = Codec("zlib level 6", functools.partial(zlib.compress, level=6, wbits=-15), _ZLIB6_OBJ)


def is_text(head: Buffer) -> bool:
    """Text is deflated without a probe: ASCII in its first TEXT_SAMPLE bytes."""
    return bytes(head[:TEXT_SAMPLE]).isascii()


def probe_windows(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the probe's windows in a file of `size` bytes: the whole file up to
    two windows, else at least two windows spread evenly (the first at the start, the last at
    the end) covering at least 1/PROBE_COVERAGE of it."""
    if size <= 2 * PROBE_WINDOW:
        return [(0, size)]
    count = max(2, -(-size // (PROBE_WINDOW * PROBE_COVERAGE)))
    step = (size - PROBE_WINDOW) // (count - 1)
    return [(index * step, PROBE_WINDOW) for index in range(count - 1)] + [(size - PROBE_WINDOW, PROBE_WINDOW)]


def saving(windows: Sequence[Buffer]) -> float:
    """The share of bytes that libdeflate level 1 saves over `windows`, each deflated alone."""
    total = sum(len(window) for window in windows)
    if not total:
        return 0.0
    return 1 - sum(len(deflate.deflate_compress(window, PROBE_LEVEL)) for window in windows) / total


def pack(data: Buffer, codec: Codec) -> tuple[int, Buffer]:
    """The method and stored bytes of a file held whole (see the module's docstring)."""
    size = len(data)
    if not size:
        return STORED, data
    if not is_text(data):
        windows = probe_windows(size)
        if len(windows) > 1:
            view = memoryview(data)
            clear = saving([view[offset : offset + length] for offset, length in windows]) >= CLEAR
            level1 = None if clear else deflate.deflate_compress(data, PROBE_LEVEL)
        else:
            level1 = deflate.deflate_compress(data, PROBE_LEVEL)
            level1 = None if len(level1) <= size * (1 - CLEAR) else level1
        if level1 is not None:
            return (STORED, data) if len(level1) >= size else (DEFLATED, level1)
    out = codec.compress(data)
    if len(out) >= size:
        return STORED, data
    return DEFLATED, out


def stream_method(size: int, read_at: Callable[[int, int], bytes]) -> int:
    """The method of a file over HOLD_LIMIT, decided as `pack` decides; `read_at(offset, length)`
    reads its bytes. Deflated if it is text or clearly compressible in the windows, else if level
    1 over its CHUNKs, one at a time, makes it smaller."""
    if not size:
        return STORED
    if is_text(read_at(0, TEXT_SAMPLE)):
        return DEFLATED
    if saving([read_at(offset, length) for offset, length in probe_windows(size)]) >= CLEAR:
        return DEFLATED
    packed = sum(len(deflate.deflate_compress(read_at(offset, CHUNK), PROBE_LEVEL)) for offset in range(0, size, CHUNK))
    return DEFLATED if packed < size else STORED


def deflate_chunk(compressobj: Callable[[], Any], data: Buffer) -> bytes:
    """One CHUNK of a big file as a deflate segment of its own: a fresh compressor (no reference
    to earlier chunks) ended by a full flush (byte-aligned, not final). Segments can be made in
    any order on any thread and concatenated; FINAL_BLOCK after the last one ends the stream."""
    compressor = compressobj()
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


class ChunkedCompressor:
    """zipfile's compressor interface (compress, flush) cutting the stream into the CHUNK
    segments `write_zip` makes for a big file, so that the reference writer gives its bytes."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.pending = bytearray()

    def compress(self, data: bytes) -> bytes:
        self.pending += data
        out = []
        while len(self.pending) >= CHUNK:
            out.append(deflate_chunk(self.codec.compressobj, bytes(self.pending[:CHUNK])))
            del self.pending[:CHUNK]
        return b"".join(out)

    def flush(self) -> bytes:
        last = deflate_chunk(self.codec.compressobj, bytes(self.pending)) if self.pending else b""
        return last + FINAL_BLOCK
