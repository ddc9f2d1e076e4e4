"""The fast zip writer: entries packed in parallel, written in order, hashed as they are written.

Owns: the pipeline of `write_zip`. The calling thread walks and hands files out in batches; a
pool reads and packs each batch (read, CRC-32, store-or-deflate, local header; reads and codecs
release the GIL); the calling thread runs pool jobs itself while it waits, and writes the batches,
then the central directory and end records, in order, feeding every byte to the SHA-256 as it
goes. A file over
HOLD_LIMIT is read in CHUNK pieces, each deflated as a segment of its own (see codec.py); its
local header is patched once the compressed size is known, and that entry alone is read back for
the hash (memory stays bounded whatever the file's size).
Must not: decide how an entry is stored (codec.py), lay out headers (layout.py), or let the
number of workers change a single byte of the archive.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Union

import deflate

from . import codec, layout
from .codec import Buffer
from .layout import ArchiveWriter, Record, ZipStats
from .tree import Entry

SWITCH_INTERVAL = 0.001  # sys.setswitchinterval while packing with threads (default 0.005)
BATCH_BYTES = 256 << 10  # small files go to the workers in batches: one future per ~256 KiB
BATCH_ENTRIES = 64
WINDOW_BYTES = 48 << 20  # at most this much input read ahead of the writer (bounds memory)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_zip(entries: Iterable[Entry], destination: Path, workers: int | None = None, compressor: codec.Codec = codec.DEFAULT, digest: Any = None) -> ZipStats:
    """Write `entries` in order as a reproducible zip, packing entries in parallel; `entries`
    may be a generator (`tree.walk`): each entry is packed as soon as it comes.

    The bytes depend only on the entries' contents and the codec, never on `workers` (default:
    os.cpu_count()): the calling thread and `workers - 1` more pack (see _Pool). Files up to
    HOLD_LIMIT are read whole and packed in batches by the pool, at most WINDOW_BYTES ahead of
    the writer; a bigger file is read by the calling thread in CHUNK pieces, each
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
        archive = ArchiveWriter(fd, digest)
        with _Pool(workers - 1) as pool:
            for job in _schedule(pool, entries, compressor, max_chunks=workers + 1):
                if isinstance(job, Future):
                    result = pool.result(job)
                    if isinstance(result, Batch):
                        archive.add(result.data, result.records)
                    else:
                        archive.add_chunk(result)
                elif isinstance(job, _BigStart):
                    archive.begin_big(job.entry, job.method)
                else:
                    archive.end_big(job.entry, job.method, job.crc, job.size)
        return archive.finish()
    finally:
        sys.setswitchinterval(switch_interval)
        os.close(fd)


class Batch(NamedTuple):
    """Consecutive entries packed by a worker: their local headers and data back to back, and
    each entry's record with its length in `data`."""

    data: bytes
    records: list[tuple[Record, int]]


def pack_batch(batch: list[Entry], compressor: codec.Codec) -> Batch:
    """Entries read and packed whole (a pool job: any thread)."""
    parts: list[Buffer] = []
    records = []
    for entry in batch:
        data = read(entry)
        method, out = codec.pack(data, compressor)
        r = layout.record(entry, method, deflate.crc32(data), len(out), len(data))
        header = layout.local_header(r)
        parts += (header, out)
        records.append((r, len(header) + len(out)))
    return Batch(b"".join(parts), records)


def read(entry: Entry) -> bytes:
    """A file's content, in as few system calls as possible: each one releases the GIL and
    must win it back from the other threads."""
    fd = os.open(entry.fspath, os.O_RDONLY | _O_CLOEXEC)
    try:
        data = os.read(fd, entry.size + 1)
        if len(data) <= entry.size:
            return data  # a regular file reads short only at its end
        parts = [data]  # it grew since it was listed
        while chunk := os.read(fd, codec.CHUNK):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


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


def _schedule(pool: _Pool, entries: Iterable[Entry], compressor: codec.Codec, max_chunks: int) -> Iterator[_Job]:
    """The archive's jobs in order: a future per batch of files held whole (read and packed on
    the pool: the calling thread, which walks and writes, keeps as little serial work as it can),
    and for a bigger file its start, a future per chunk, its end.

    At most WINDOW_BYTES of input is handed out and not yet written, and at most `max_chunks`
    chunks of a big file: that bounds the memory held."""
    pending: deque[tuple[_Job, int, bool]] = deque()  # job, input bytes it holds, is a chunk
    in_flight = chunks = 0
    batch: list[Entry] = []
    batch_bytes = 0

    def push(job: _Job, size: int, chunk: bool) -> None:
        nonlocal in_flight, chunks
        pending.append((job, size, chunk))
        in_flight += size
        chunks += chunk

    def submit_batch() -> None:
        nonlocal batch, batch_bytes
        if batch:
            push(pool.submit(pack_batch, batch, compressor), batch_bytes, False)
            batch, batch_bytes = [], 0

    def ready() -> Iterator[_Job]:
        nonlocal in_flight, chunks
        while pending and (in_flight > WINDOW_BYTES or chunks > max_chunks):
            job, size, chunk = pending.popleft()
            in_flight -= size
            chunks -= chunk
            yield job

    for entry in entries:
        if entry.size > codec.HOLD_LIMIT:
            submit_batch()
            for job, size in _big_file_jobs(pool, entry, compressor):
                push(job, size, isinstance(job, Future))
                yield from ready()
        else:
            batch.append(entry)
            batch_bytes += entry.size
            if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_ENTRIES:
                submit_batch()
        yield from ready()
    submit_batch()
    for job, _, _ in pending:
        yield job


def _big_file_jobs(pool: _Pool, entry: Entry, compressor: codec.Codec) -> Iterator[tuple[_Job, int]]:
    """A big file's jobs with the input bytes each holds: start, one per CHUNK read (deflated
    on the pool, or the chunk itself if the file is stored), end with CRC-32 and size."""
    fd = os.open(entry.fspath, os.O_RDONLY | _O_CLOEXEC)
    try:
        method = codec.stream_method(os.fstat(fd).st_size, lambda offset, length: os.pread(fd, length, offset))
        yield _BigStart(entry, method), 0
        crc = size = 0
        before = b""
        while chunk := os.read(fd, codec.CHUNK):
            crc = deflate.crc32(chunk, crc)
            size += len(chunk)
            if method == codec.STORED:
                yield _done(chunk), len(chunk)
            else:
                yield pool.submit(codec.deflate_chunk, compressor.compressobj, chunk, before), len(chunk)
                before = chunk[-codec.DICTIONARY:]
        yield _BigEnd(entry, method, crc, size), 0
    finally:
        os.close(fd)


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future
