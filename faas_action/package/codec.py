"""How an entry's bytes are stored: deflated, or as they are.

Owns: the deflate implementation and level (`DEFAULT`: libdeflate level 5, one call per file),
the store-or-deflate decision and its probe, and the segments that a file too big to hold in
memory is deflated in.
Must not: read files, lay out zip headers, or depend on threads or worker counts: every decision
here is a pure function of a file's bytes (and of the codec, which the product fixes).

The decision for a file held whole (up to HOLD_LIMIT bytes), `pack`, a pure function of its bytes:
- empty: stored (deflate would add two bytes);
- text (its first TEXT_SAMPLE bytes are ASCII or UTF-8): deflated with the codec;
- a small binary (up to two PROBE_WINDOWs): libdeflate level 1 over all of it; kept if that
  saves less than CLEAR, or if level LEVEL finds no more than level 1 in its first window
  (`repeats_only`: long repeats of random bytes, where every level finds the same); else the codec;
- a bigger binary: level 1 over windows spread over it (`probe_windows`); if they save CLEAR or
  more, it is deflated (at level 1 if `repeats_only` on the middle window, else with the codec).
  If not, ISA-L level 3 runs over all of it (`cannot_shrink`, three times as fast as libdeflate on
  such data): stored if that does not make it smaller, else deflated at level 1;
- whatever deflated it, a file is stored if that did not make it smaller (Info-ZIP's rule).
So a file is stored only when deflate, run over all of it, does not shrink it: the windows never
decide to store, only which level to spend. The old probe, three 1 KiB slices, could not see blocks
repeated a few KiB apart and stored files that deflate to half their size; a window of 64 KiB sees
repeats within deflate's reach (32 KiB), but redundancy that comes in clusters (blocks copied
twice from the same distant place) can fall between windows.
A file over HOLD_LIMIT is decided the same way (`stream_method`, ISA-L running over its CHUNKs
one by one when the windows are not clear); if deflated, it is deflated in CHUNK segments: each a
deflate stream of its own, primed with the DICTIONARY bytes before it and ended by a full flush,
so that segments can be made in any order on any thread and concatenated (pigz's layout). Without
the priming, each segment started blind: a file of blocks repeated a few KiB apart came out 1.8x
the size of one stream over it.

Why libdeflate level 5: measured on the three benchmark trees (docs/benchmarks.md), it is the
cheapest level whose archives stay under Info-ZIP's (zlib level 6) on real code: level 4 makes
Python source 3% and JSON 6% bigger than zlib 6 does, level 5 1% and 4%, which the 52 bytes per
entry that our headers save over Info-ZIP's more than pay for; level 6 would give archives
0.6-1.2% smaller for 13-18% more CPU. Every byte written comes from libdeflate (or zlib, for the
segments of files over HOLD_LIMIT), whose output depends only on its input, level and version
(pinned by uv.lock), not on the CPU it runs on or on what ran before: the no-op detection compares
hashes of archives built on different runners. ISA-L's output does depend on the CPU: its level 3 dispatches to a different
match finder on AVX2 and on AVX-512 machines (igzip_multibinary.asm); so ISA-L only ever answers
"can deflate shrink this at all", where a difference of a few bytes between CPUs cannot change the
answer unless the file sits within those bytes of its own size.
"""

from __future__ import annotations

import codecs
import functools
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import deflate
from isal import isal_zlib

Buffer = Union[bytes, bytearray, memoryview]

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
LEVEL = 5
HOLD_LIMIT = 32 << 20  # bigger files are read and deflated in CHUNK segments, never held whole
CHUNK = 1 << 20
DICTIONARY = 32 << 10  # deflate's window: each CHUNK segment is primed with the bytes before it
TEXT_SAMPLE = 4 << 10
PROBE_WINDOW = 64 << 10
PROBE_COVERAGE = 8
PROBE_LEVEL = 1
CLEAR = 0.10  # windows that level 1 shrinks by this much: deflate with the codec, no whole-file probe
LEVEL_GAIN = 0.02  # less than this gained by LEVEL over level 1 on a window: level 1 for the file

FINAL_BLOCK = b"\x03\x00"  # an empty final block (fixed Huffman codes): ends a chunked stream


@dataclass(frozen=True)
class Codec:
    """A raw-deflate implementation for the files that `pack` gives it: `compress` for a whole
    file of up to HOLD_LIMIT bytes, `compressobj` for each CHUNK of a bigger one (see
    `deflate_chunk`). Every codec gives a valid archive; only the deflate streams, and so the
    files that deflate does not shrink, differ."""

    compress: Callable[[Buffer], Buffer]
    compressobj: Callable[[], Any]


_ZLIB6_OBJ = functools.partial(zlib.compressobj, 6, zlib.DEFLATED, -15)
# libdeflate level LEVEL; zlib level 6 for the segments of files over HOLD_LIMIT
DEFAULT = Codec(functools.partial(deflate.deflate_compress, compresslevel=LEVEL), _ZLIB6_OBJ)
# zipfile's own compressor (level 6 = zlib's default): with it write_zip gives write_zip_simple's bytes.
ZLIB = Codec(functools.partial(zlib.compress, level=6, wbits=-15), _ZLIB6_OBJ)


def is_text(data: Buffer) -> bool:
    """Text is deflated without a probe: its first TEXT_SAMPLE bytes are ASCII, or UTF-8 (a
    character cut at the end of the sample allowed)."""
    head = bytes(data[:TEXT_SAMPLE])
    if head.isascii():
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


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


def repeats_only(window: Buffer) -> bool:
    """True when libdeflate level LEVEL finds no more in `window` than level 1 (within LEVEL_GAIN):
    data whose redundancy is long repeats of otherwise random bytes, where level 1 is as good as
    any level and several times faster. Code and text gain 5-10% from the higher level."""
    return len(deflate.deflate_compress(window, LEVEL)) > len(deflate.deflate_compress(window, PROBE_LEVEL)) * (1 - LEVEL_GAIN)


def cannot_shrink(data: Buffer) -> bool:
    """Whether deflate, run over all of `data`, fails to make it smaller: ISA-L level 3 answers
    at 400-600 MB/s, three times as fast as libdeflate level 1 on such data. Its bytes are never
    written (they may differ between CPU generations); its size only decides, and a file that
    it shrinks is deflated by libdeflate."""
    return len(isal_zlib.compress(data, 3, -15)) >= len(data)


def pack(data: Buffer, codec: Codec) -> tuple[int, Buffer]:
    """The method and stored bytes of a file held whole (see the module's docstring)."""
    size = len(data)
    if not size:
        return STORED, data
    if is_text(data):
        return _smaller(data, codec.compress(data))
    view = memoryview(data)
    if size <= 2 * PROBE_WINDOW:  # small: level 1 over all of it is the probe
        level1 = deflate.deflate_compress(data, PROBE_LEVEL)
        if len(level1) > size * (1 - CLEAR) or repeats_only(view[:PROBE_WINDOW]):
            return _smaller(data, level1)  # little to gain, or only long repeats: level 1 gets it
        return _smaller(data, codec.compress(data))
    sample = [view[offset : offset + length] for offset, length in probe_windows(size)]
    if saving(sample) >= CLEAR:  # clearly compressible: which level is worth it?
        if repeats_only(sample[len(sample) // 2]):
            return _smaller(data, deflate.deflate_compress(data, PROBE_LEVEL))
        return _smaller(data, codec.compress(data))
    if cannot_shrink(data):
        return STORED, data
    return _smaller(data, deflate.deflate_compress(data, PROBE_LEVEL))


def _smaller(data: Buffer, packed: Buffer) -> tuple[int, Buffer]:
    """Info-ZIP's rule: deflated only if that made it smaller."""
    return (DEFLATED, packed) if len(packed) < len(data) else (STORED, data)


def stream_method(size: int, read_at: Callable[[int, int], bytes]) -> int:
    """The method of a file over HOLD_LIMIT, decided as `pack` decides; `read_at(offset, length)`
    reads its bytes. Deflated if it is text or clearly compressible in the windows, else unless
    ISA-L, run over each of its CHUNKs, shrinks none of them."""
    if not size:
        return STORED
    if is_text(read_at(0, TEXT_SAMPLE)):
        return DEFLATED
    if saving([read_at(offset, length) for offset, length in probe_windows(size)]) >= CLEAR:
        return DEFLATED
    return STORED if all(cannot_shrink(read_at(offset, CHUNK)) for offset in range(0, size, CHUNK)) else DEFLATED


def deflate_chunk(compressobj: Callable[..., Any], data: Buffer, before: Buffer = b"") -> bytes:
    """One CHUNK of a big file as a deflate segment of its own: a fresh compressor primed with
    `before`, the last DICTIONARY bytes of the file before this chunk (so matches reach back
    across the border, as in one stream), ended by a full flush (byte-aligned, not final).
    Segments depend only on the file's bytes: they can be made in any order on any thread and
    concatenated; FINAL_BLOCK after the last one ends the stream."""
    compressor = compressobj(zdict=bytes(before)) if before else compressobj()
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


class ChunkedCompressor:
    """zipfile's compressor interface (compress, flush) cutting the stream into the CHUNK
    segments `write_zip` makes for a big file, so that the reference writer gives its bytes."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.pending = bytearray()
        self.before = b""

    def _segment(self, chunk: bytes) -> bytes:
        out = deflate_chunk(self.codec.compressobj, chunk, self.before)
        self.before = chunk[-DICTIONARY:]
        return out

    def compress(self, data: bytes) -> bytes:
        self.pending += data
        out = []
        while len(self.pending) >= CHUNK:
            out.append(self._segment(bytes(self.pending[:CHUNK])))
            del self.pending[:CHUNK]
        return b"".join(out)

    def flush(self) -> bytes:
        last = self._segment(bytes(self.pending)) if self.pending else b""
        return last + FINAL_BLOCK
