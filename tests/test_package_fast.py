"""The fast zip writer and the store-or-deflate decision, on each kind of tree the benchmark
packs (generated source, data and binaries; real installed packages; binaries whose blocks repeat
a few KiB apart): the same bytes whatever the worker count, in this process and in a fresh one;
the archive zipfile reads back, entry by entry; the reference writer's bytes; big files deflated
in chunks and streamed; the hash computed while writing; Lambda's CodeSha256; a `provider: aws`
run that loads no other cloud's SDK. No timing here: that is bench/."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import deflate
import pytest

from faas_action import package
from faas_action.errors import InputError
from faas_action.package import codec
from tests.conftest import AWS_TEST_ENV, boto_client
from tests.harness import ROOT, ActionRunner

BIG = 20 * 1024 * 1024


def text(rng: random.Random, size: int) -> bytes:
    words = ["def", "return", "self", "value", "import", "data", "    ", "\n", "name", "config", "(", ")", ":"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words).encode() + b" "
    return bytes(out[:size])


def repeated_blocks(rng: random.Random, size: int, distance: int = 8 << 10, block: int = 4 << 10) -> bytes:
    """Random 4 KiB blocks, each written twice `distance` bytes apart: deflate halves it, while no
    1 KiB slice holds a repetition."""
    out = bytearray()
    while len(out) < size:
        fresh = [rng.randbytes(block) for _ in range(distance // block)]
        out += b"".join(fresh) + b"".join(fresh)
    return bytes(out[:size])


def so_like(rng: random.Random, compressible: int, random_bytes: int) -> bytes:
    """An ELF-shaped file: header, a big compressible section (code-like text), random data."""
    return b"\x7fELF\x02\x01\x01" + bytes(57) + text(rng, compressible).replace(b" ", b"\x00") + rng.randbytes(random_bytes)


def generated_tree(root: Path, big: bool = False) -> Path:
    """Text, binaries, empty files, a non-ASCII name, an executable; optionally big files."""
    rng = random.Random(7)
    source = root / "src"
    (source / "pkg" / "sub").mkdir(parents=True)
    (source / "données").mkdir()
    (source / "app.py").write_bytes(text(rng, 30_000))
    (source / "pkg" / "__init__.py").write_bytes(b"")
    (source / "pkg" / "sub" / "data.json").write_bytes(json.dumps({"k": list(range(3000))}).encode())
    (source / "données" / "résumé.txt").write_text("déjà vu, encore une fois\n" * 200, encoding="utf-8")
    (source / "lib.so").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57) + rng.randbytes(300_000))
    (source / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(5_000))
    (source / "tiny.txt").write_bytes(b"hi\n")
    (source / "bootstrap").write_bytes(b"#!/bin/sh\nexec python3 app.py\n")
    os.chmod(source / "bootstrap", 0o700)
    for index in range(150):  # enough small files for several batches
        (source / "pkg" / f"mod_{index:03d}.py").write_bytes(text(rng, rng.randint(10, 9_000)))
    if big:
        (source / "big.csv").write_bytes(text(rng, BIG))
        (source / "big.bin").write_bytes(rng.randbytes(6 * 1024 * 1024))
    return source


def real_tree(root: Path) -> Path:
    """Files written by other people: installed packages of this project's environment (pure
    Python, C extensions, metadata, certifi's CA bundle)."""
    site = Path(deflate.__file__).resolve().parents[1]
    source = root / "site"
    for name in ("yaml", "_yaml", "deflate", "pathspec", "certifi"):
        if (site / name).is_dir():
            shutil.copytree(site / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    return source


def repeats_tree(root: Path) -> Path:
    """Binaries with long-range redundancy, from a fixed seed (a small cut of what bench/make_binaries.py makes)."""
    rng = random.Random(13)
    source = root / "bins"
    source.mkdir()
    for index in range(12):
        size = rng.randint(20_000, 600_000)
        kind = index % 3
        data = repeated_blocks(rng, size) if kind == 0 else so_like(rng, size // 2, size // 2) if kind == 1 else rng.randbytes(size)
        (source / f"lib{index:02d}.so").write_bytes(data)
    return source


TREES = {"generated": generated_tree, "real": real_tree, "repeats": repeats_tree}


def entries(source: Path) -> list[package.Entry]:
    return package.collect(source, package.ignore_spec(source, None))


def fast(source: Path, destination: Path, **kwargs) -> bytes:
    package.write_zip(entries(source), destination, **kwargs)
    return destination.read_bytes()


METADATA = ("filename", "date_time", "compress_type", "create_system", "create_version", "extract_version",
            "flag_bits", "external_attr", "internal_attr", "CRC", "file_size", "extra", "comment")


def metadata(path: Path, *fields: str) -> list[tuple]:
    with zipfile.ZipFile(path) as archive:
        return [tuple(getattr(info, name) for name in fields or METADATA) for info in archive.infolist()]


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    return generated_tree(tmp_path_factory.mktemp("big"), big=True)


@pytest.mark.parametrize("kind", TREES)
def test_same_bytes_for_any_worker_count_and_across_runs(kind, tmp_path):
    source = TREES[kind](tmp_path)
    one = fast(source, tmp_path / "one.zip", workers=1)
    assert one == fast(source, tmp_path / "again.zip", workers=1)
    for workers in (2, 3, 8):
        assert fast(source, tmp_path / f"w{workers}.zip", workers=workers) == one, f"workers={workers}"


def test_big_files_same_bytes_for_any_worker_count(big_tree, tmp_path):
    one = fast(big_tree, tmp_path / "one.zip", workers=1)
    assert fast(big_tree, tmp_path / "four.zip", workers=4) == one


def test_build_passes_workers_and_stays_reproducible(tmp_path):
    source = generated_tree(tmp_path)
    first = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path, workers=1)
    second = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path, workers=3)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 and first.file_count == len(entries(source))
    assert package.describe(first.path) == first  # the counts build() took from the writer


@pytest.mark.parametrize("kind", TREES)
def test_archive_reads_back_entry_by_entry(kind, tmp_path):
    """What zipfile (and unzip) read back is the tree: each entry's name, bytes, mode, fixed
    timestamp; stored entries are exactly the files that the codec does not shrink."""
    source = TREES[kind](tmp_path)
    listed = entries(source)
    path = tmp_path / "fast.zip"
    fast(source, path, workers=2)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [i.filename for i in infos] == [e.name for e in listed] == sorted(e.name for e in listed)
        for info, entry in zip(infos, listed):
            data = (source / entry.name).read_bytes()
            assert archive.read(info) == data, info.filename
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.create_system == 3
            assert stat.S_ISREG(info.external_attr >> 16)
            executable = os.stat(source / entry.name).st_mode & 0o111 or entry.name == "bootstrap"
            assert stat.S_IMODE(info.external_attr >> 16) == (0o755 if executable else 0o644), info.filename
            assert info.compress_type == codec.pack(data, package.DEFAULT)[0], info.filename
            if info.compress_type == zipfile.ZIP_DEFLATED:
                assert info.compress_size < info.file_size, info.filename
    if shutil.which("unzip"):
        checked = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("codec_name", ["ZLIB", "DEFAULT"])
def test_fast_writer_gives_exactly_the_simple_writers_bytes(big_tree, tmp_path, codec_name):
    """Headers, central directory, zip64 choice, method choice: laid out as zipfile lays them out."""
    compressor = getattr(package, codec_name)
    package.write_zip_simple(entries(big_tree), tmp_path / "simple.zip", compressor)
    for workers in (1, 4):
        assert fast(big_tree, tmp_path / "fast.zip", workers=workers, compressor=compressor) == (tmp_path / "simple.zip").read_bytes()


def test_codecs_give_the_same_entries(big_tree, tmp_path):
    """Only the deflate streams differ between codecs: names, order, modes, CRCs, contents agree."""
    package.write_zip_simple(entries(big_tree), tmp_path / "zlib.zip")
    fast(big_tree, tmp_path / "fast.zip")
    fields = ("filename", "date_time", "create_system", "external_attr", "CRC", "file_size")
    assert metadata(tmp_path / "fast.zip", *fields) == metadata(tmp_path / "zlib.zip", *fields)
    assert contents(tmp_path / "fast.zip") == contents(tmp_path / "zlib.zip")


# --- the store-or-deflate decision -------------------------------------------------------------


def hidden_between_windows(rng: random.Random) -> bytes:
    """Random bytes but for 256 KiB of 4 KiB blocks repeated 8 KiB apart, placed between two of
    the probe's windows: only a look at the whole file finds what deflate saves (about 3%)."""
    size = 4 << 20
    (first, length), (second, _) = codec.probe_windows(size)[1:3]
    start = first + length + 4096
    assert start + (256 << 10) < second
    data = bytearray(rng.randbytes(size))
    data[start : start + (256 << 10)] = repeated_blocks(rng, 256 << 10)
    return bytes(data)


DECISIONS = {
    "empty": (lambda rng: b"", codec.STORED),
    "random bytes": (lambda rng: rng.randbytes(300_000), codec.STORED),
    "random bytes behind an ELF header": (lambda rng: b"\x7fELF\x02\x01\x01" + bytes(57) + rng.randbytes(2_000_000), codec.STORED),
    "a short text that deflate cannot shrink": (lambda rng: b"hi\n", codec.STORED),
    "text": (lambda rng: text(rng, 50_000), codec.DEFLATED),
    "UTF-8 text": (lambda rng: ("déjà vu, encore une fois\n" * 400).encode(), codec.DEFLATED),
    "4 KiB blocks repeated 8 KiB apart": (lambda rng: repeated_blocks(rng, 1_000_000), codec.DEFLATED),
    "4 KiB blocks repeated 24 KiB apart, 3 MB": (lambda rng: repeated_blocks(rng, 3_000_000, distance=24 << 10), codec.DEFLATED),
    ".so-like, a large compressible section": (lambda rng: so_like(rng, 1_500_000, 2_500_000), codec.DEFLATED),
    ".so-like, compressible section at the end": (lambda rng: rng.randbytes(3_000_000) + text(rng, 1_000_000), codec.DEFLATED),
    "zeros": (lambda rng: bytes(100_000), codec.DEFLATED),
    "repeats hidden between the probe's windows": (hidden_between_windows, codec.DEFLATED),
    "a small binary of repeated blocks": (lambda rng: repeated_blocks(rng, 100_000), codec.DEFLATED),
    "a small binary, mostly random": (lambda rng: rng.randbytes(90_000) + text(rng, 2_000), codec.DEFLATED),
}


@pytest.mark.parametrize("name", DECISIONS)
def test_store_or_deflate_decision(name):
    make, expected = DECISIONS[name]
    data = make(random.Random(name))
    method, out = codec.pack(data, package.DEFAULT)
    assert method == expected
    if method == codec.STORED:
        assert out is data
        assert len(deflate.deflate_compress(data, 1)) >= len(data), "deflate would have shrunk it"
    else:
        assert zlib.decompress(bytes(out), -15) == data and len(out) < len(data)
    # The streamed path (files over HOLD_LIMIT) decides from the same probe.
    if len(data) > 2 * codec.PROBE_WINDOW:
        assert codec.stream_method(len(data), lambda offset, length: data[offset : offset + length]) == expected


def test_probe_windows_cover_small_files_whole_and_an_eighth_of_big_ones():
    assert codec.probe_windows(0) == [(0, 0)] and codec.probe_windows(100_000) == [(0, 100_000)]
    for size in (2 * codec.PROBE_WINDOW + 1, 1_000_000, 5_000_000, 40_000_000):
        windows = codec.probe_windows(size)
        assert windows[0][0] == 0 and sum(n for _, n in windows) * codec.PROBE_COVERAGE >= size
        assert windows[-1] == (size - codec.PROBE_WINDOW, codec.PROBE_WINDOW)
        assert all(a + n <= b for (a, n), (b, _) in zip(windows, windows[1:]))  # in order, no overlap


def test_incompressible_entries_are_stored_and_text_deflated(tmp_path):
    source = generated_tree(tmp_path)
    path = tmp_path / "fast.zip"
    fast(source, path)
    with zipfile.ZipFile(path) as archive:
        method = {i.filename: i.compress_type for i in archive.infolist()}
    assert method["lib.so"] == zipfile.ZIP_STORED  # a compressible ELF header must not decide
    assert method["image.png"] == zipfile.ZIP_STORED
    assert method["pkg/__init__.py"] == zipfile.ZIP_STORED  # empty
    assert method["tiny.txt"] == zipfile.ZIP_STORED  # deflate would make it longer
    assert method["app.py"] == zipfile.ZIP_DEFLATED
    assert method["données/résumé.txt"] == zipfile.ZIP_DEFLATED  # UTF-8 text: probed, compresses
    assert method["pkg/sub/data.json"] == zipfile.ZIP_DEFLATED


@pytest.mark.parametrize("size", [1, 1000, 40_000, 2_000_000])
def test_default_codec_inflates_to_the_original(size):
    data = text(random.Random(size), size)
    assert zlib.decompress(bytes(package.DEFAULT.compress(data)), -15) == data


# --- files over HOLD_LIMIT, deflated in chunks and streamed ------------------------------------


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunked big files on small inputs: 64 KiB chunks above 256 KiB."""
    monkeypatch.setattr(codec, "CHUNK", 64 * 1024)
    monkeypatch.setattr(codec, "HOLD_LIMIT", 256 * 1024)
    return codec.CHUNK


def chunk_tree(root: Path, chunk: int) -> Path:
    rng = random.Random(11)
    source = root / "chunky"
    source.mkdir()
    (source / "exact.txt").write_bytes(text(rng, 8 * chunk))  # ends on a chunk boundary
    (source / "odd.csv").write_bytes(text(rng, 13 * chunk + 777))
    (source / "random.bin").write_bytes(rng.randbytes(5 * chunk + 3))  # stored, also in chunks
    (source / "repeats.bin").write_bytes(repeated_blocks(rng, 9 * chunk + 5))  # binary, deflated in chunks
    (source / "small.py").write_bytes(text(rng, 5000))
    return source


def test_chunked_big_files_same_bytes_for_any_worker_count(small_chunks, tmp_path):
    source = chunk_tree(tmp_path, small_chunks)
    one = fast(source, tmp_path / "one.zip", workers=1)
    for workers in (2, 3, 5):
        assert fast(source, tmp_path / f"w{workers}.zip", workers=workers) == one, f"workers={workers}"


def test_chunked_big_file_is_independent_segments_that_inflate_to_the_original(small_chunks, tmp_path):
    source = chunk_tree(tmp_path, small_chunks)
    path = tmp_path / "fast.zip"
    fast(source, path, workers=3)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        for name in ("exact.txt", "odd.csv", "repeats.bin"):
            info = archive.getinfo(name)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                header = raw.read(30)
                name_length, extra_length = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
                raw.seek(info.header_offset + 30 + name_length + extra_length)
                stream = raw.read(info.compress_size)
            original = (source / name).read_bytes()
            chunks = [original[i : i + small_chunks] for i in range(0, len(original), small_chunks)]
            befores = [b""] + [c[-codec.DICTIONARY:] for c in chunks[:-1]]
            expected = b"".join(codec.deflate_chunk(package.DEFAULT.compressobj, c, b) for c, b in zip(chunks, befores)) + codec.FINAL_BLOCK
            assert stream == expected  # fixed boundaries, each segment on its own, primed with the input before it
            assert zlib.decompress(stream, -15) == original
            assert info.CRC == zlib.crc32(original) and info.file_size == len(original)
        assert archive.getinfo("random.bin").compress_type == zipfile.ZIP_STORED
        assert archive.read("random.bin") == (source / "random.bin").read_bytes()


def test_simple_writer_cuts_big_files_as_the_fast_one(small_chunks, tmp_path):
    source = chunk_tree(tmp_path, small_chunks)
    package.write_zip_simple(entries(source), tmp_path / "simple.zip")
    assert fast(source, tmp_path / "fast.zip", workers=2, compressor=package.ZLIB) == (tmp_path / "simple.zip").read_bytes()


def test_big_files_are_streamed_with_bounded_memory(small_chunks, tmp_path):
    rng = random.Random(5)
    source = tmp_path / "big"
    source.mkdir()
    (source / "big.csv").write_bytes(text(rng, 8 << 20))
    (source / "big.bin").write_bytes(rng.randbytes(3 << 20))
    path = tmp_path / "fast.zip"
    tracemalloc.start()
    try:
        package.write_zip(entries(source), path, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 << 20, f"peak {peak} bytes: a big file was held whole"
    with zipfile.ZipFile(path) as archive:
        info = {i.filename: i for i in archive.infolist()}
        assert info["big.csv"].compress_type == zipfile.ZIP_DEFLATED and info["big.csv"].compress_size < (4 << 20)
        assert info["big.bin"].compress_type == zipfile.ZIP_STORED
        for name in ("big.csv", "big.bin"):
            assert archive.read(name) == (source / name).read_bytes()


# --- the hash, computed while writing ----------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_digest_fed_while_writing_equals_the_files_sha256(small_chunks, tmp_path, workers):
    """Big entries are patched after their data is written, then read back for the hash."""
    source = chunk_tree(tmp_path, small_chunks)
    digest = hashlib.sha256()
    package.write_zip(entries(source), tmp_path / "fast.zip", workers=workers, digest=digest)
    assert digest.hexdigest() == hashlib.sha256((tmp_path / "fast.zip").read_bytes()).hexdigest()


def test_build_hash_equals_sha256_of_the_zip_with_big_files(big_tree, tmp_path):
    artifact = package.build(big_tree, tmp_path / "elsewhere", out_dir=tmp_path, workers=2)
    data = artifact.path.read_bytes()
    assert artifact.sha256_hex == hashlib.sha256(data).hexdigest()
    assert artifact.sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert package.describe(artifact.path) == artifact


FRESH_BUILD = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from faas_action import package
artifact = package.build(Path({source!r}), Path({source!r}) / "no-workspace", out_dir=Path({out!r}), workers={workers})
print(artifact.sha256_hex)
"""


def test_same_bytes_in_a_fresh_interpreter(tmp_path):
    """A codec whose output depends on memory left over by earlier work, or on where its buffers
    land, gives other bytes in another process: ISA-L level 2 did, now and then."""
    sources = [generated_tree(tmp_path / "generated", big=True), repeats_tree(tmp_path)]
    for source in sources:
        here = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path, workers=2).sha256_hex
        for workers in (1, 3):
            script = FRESH_BUILD.format(root=str(ROOT), source=str(source), out=str(tmp_path), workers=workers)
            proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == here, f"{source.name}, workers={workers}"


# --- against Lambda (moto) and the run as a whole ------------------------------------------------


def test_code_sha256_equals_what_lambda_reports(tmp_path, moto_server, aws_role):
    source = generated_tree(tmp_path)
    artifact = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path)
    zipped = artifact.path.read_bytes()
    assert artifact.sha256 == base64.b64encode(hashlib.sha256(zipped).digest()).decode()
    client = boto_client("lambda", moto_server)
    name = "fast-zip-" + hashlib.sha256(zipped).hexdigest()[:8]
    created = client.create_function(
        FunctionName=name, Runtime="python3.12", Role=aws_role, Handler="app.handler", Code={"ZipFile": zipped}
    )
    assert created["CodeSha256"] == artifact.sha256
    assert client.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == artifact.sha256


SYS_MODULES_SCRIPT = """
import json, os, sys
sys.path.insert(0, {root!r})
from faas_action.main import run
code = run(os.environ, sys.stdout)
with open(os.environ["MODULES_OUT"], "w") as out:
    json.dump({{"code": code, "modules": sorted(sys.modules)}}, out)
"""


def test_provider_aws_run_imports_neither_azure_nor_google(tmp_path, moto_server, aws_role):
    """In a fresh interpreter (other tests in this process may have imported the SDKs)."""
    workspace = tmp_path / "workspace"
    (workspace / "app").mkdir(parents=True)
    (workspace / "app" / "app.py").write_text("def handler(event, context):\n    return 'hi'\n")
    runner = ActionRunner(workspace=workspace, tmp=tmp_path)
    inputs = {
        "provider": "aws",
        "function-name": "no-other-sdk-" + os.urandom(4).hex(),
        "source": "app",
        "runtime": "python3.12",
        "handler": "app.handler",
        "role": aws_role,
    }
    modules_out = tmp_path / "modules.json"
    env = runner.env_for(inputs, {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_server, "MODULES_OUT": str(modules_out)})
    proc = subprocess.run(
        [sys.executable, "-c", SYS_MODULES_SCRIPT.format(root=str(ROOT))],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(modules_out.read_text())
    assert report["code"] == 0, proc.stdout
    assert "botocore" in report["modules"]
    others = [m for m in report["modules"] if m.split(".")[0] in ("azure", "google")]
    assert others == [], f"provider aws loaded {others[:10]}"
    # Nor a YAML parser: without a config file or YAML-valued inputs nothing needs one.
    assert "yaml" not in report["modules"]


# --- the streamed walk -------------------------------------------------------------------------


def test_streamed_walk_yields_the_sorted_order(tmp_path):
    """Each directory's children sorted by name + "/" (directories) or name (files) is the order
    of the full names: `a-b/c` and `a.txt` come before `a/b` ("-" and "." sort before "/"),
    `a0` and `ab` after it; a symlink to a directory sorts as a directory."""
    source = tmp_path / "src"
    files = ["a.txt", "a/b", "a-b/c", "a0", "ab", "a b/c", "Z", "_x", "é/x", "e/y",
             "d/a/b/c", "d/a.txt", "d/a/.hidden", "d/a-b", "d/a/b.txt", "d/a/b-c", "d/a0/z"]
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(name.encode())
    os.symlink("d/a", source / "alias")  # a directory symlink sorts as a directory: "alias/"
    expected = sorted(files + [f"alias/{n[len('d/a/'):]}" for n in files if n.startswith("d/a/")])
    spec = package.ignore_spec(source, None)
    problems: list = []
    streamed = [e.name for e in package.walk(source, spec, problems)]
    assert streamed == expected and problems == []
    assert streamed.index("a-b/c") < streamed.index("a.txt") < streamed.index("a/b") < streamed.index("a0")
    assert [e.name for e in package.collect(source, spec)] == streamed


def test_walk_reports_every_symlink_problem_and_build_leaves_no_zip(tmp_path):
    source = generated_tree(tmp_path)
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", source / "leak.txt")
    os.symlink(tmp_path / "missing", source / "pkg" / "dangling")
    os.symlink(source, source / "pkg" / "loop")
    problems: list = []
    listed = [e.name for e in package.walk(source, package.ignore_spec(source, None), problems)]
    assert "app.py" in listed and "leak.txt" not in listed
    assert len(problems) == 3
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError) as error:
        package.build(source, tmp_path / "elsewhere", out_dir=out)
    messages = " ".join(p.message for p in error.value.problems)
    assert "leak.txt" in messages and "dangling" in messages and "loops back" in messages
    assert list(out.iterdir()) == []  # the partial zip and its folder are gone
