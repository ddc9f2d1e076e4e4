"""The fast zip writer: same bytes whatever the worker count, the same archive as the simple
zipfile path, stored entries for incompressible data, big files deflated in chunks and streamed,
the streamed walk's order, the hash computed while writing, Lambda's CodeSha256, and a
`provider: aws` run that loads no other cloud's SDK. No timing here: that is bench/."""

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

import pytest

from faas_action import package
from faas_action.errors import InputError
from tests.conftest import AWS_TEST_ENV, boto_client
from tests.harness import ROOT, ActionRunner

BIG = 20 * 1024 * 1024  # well over package.STREAM_THRESHOLD


def text(rng: random.Random, size: int) -> bytes:
    words = ["def", "return", "self", "value", "import", "data", "    ", "\n", "name", "config", "(", ")", ":"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words).encode() + b" "
    return bytes(out[:size])


def make_tree(root: Path, big: bool = False) -> Path:
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


def entries(source: Path) -> list[package.Entry]:
    return package.collect(source, package.ignore_spec(source, None))


def fast(source: Path, destination: Path, **kwargs) -> bytes:
    package.write_zip(entries(source), destination, **kwargs)
    return destination.read_bytes()


METADATA = ("filename", "date_time", "compress_type", "create_system", "create_version", "extract_version",
            "flag_bits", "external_attr", "internal_attr", "CRC", "file_size", "extra", "comment")


def metadata(path: Path) -> list[tuple]:
    with zipfile.ZipFile(path) as archive:
        return [tuple(getattr(info, name) for name in METADATA) for info in archive.infolist()]


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("big"), big=True)


def test_same_bytes_for_any_worker_count_and_across_runs(tmp_path):
    source = make_tree(tmp_path)
    one = fast(source, tmp_path / "one.zip", workers=1)
    assert one == fast(source, tmp_path / "again.zip", workers=1)
    for workers in (2, 3, 8):
        assert fast(source, tmp_path / f"w{workers}.zip", workers=workers) == one, f"workers={workers}"


def test_big_files_same_bytes_for_any_worker_count(big_tree, tmp_path):
    one = fast(big_tree, tmp_path / "one.zip", workers=1)
    assert fast(big_tree, tmp_path / "four.zip", workers=4) == one


def test_build_passes_workers_and_stays_reproducible(tmp_path):
    source = make_tree(tmp_path)
    first = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path, workers=1)
    second = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path, workers=3)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 and first.file_count == len(entries(source))
    assert package.describe(first.path) == first  # the counts build() took from the writer


@pytest.mark.parametrize("workers", [1, 4])
def test_zlib_codec_gives_exactly_the_simple_writers_bytes(big_tree, tmp_path, workers):
    """Headers, central directory, zip64 choice, method choice: laid out as zipfile lays them out."""
    package.write_zip_simple(entries(big_tree), tmp_path / "simple.zip")
    assert fast(big_tree, tmp_path / "fast.zip", workers=workers, codec=package.ZLIB) == (tmp_path / "simple.zip").read_bytes()


def test_default_codec_gives_the_same_archive_as_the_simple_writer(big_tree, tmp_path):
    """Same entries, order, names, modes, timestamps, methods, CRCs, sizes and contents; only the
    deflate streams differ (the FAST codec: ISA-L and libdeflate instead of zlib)."""
    package.write_zip_simple(entries(big_tree), tmp_path / "simple.zip")
    fast(big_tree, tmp_path / "fast.zip")
    assert metadata(tmp_path / "fast.zip") == metadata(tmp_path / "simple.zip")
    assert contents(tmp_path / "fast.zip") == contents(tmp_path / "simple.zip")


def test_archive_reads_back_with_modes_and_fixed_timestamps(tmp_path):
    source = make_tree(tmp_path)
    path = tmp_path / "fast.zip"
    fast(source, path, workers=2)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) and "données/résumé.txt" in names
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert stat.S_ISREG(info.external_attr >> 16)
            expected = 0o755 if info.filename == "bootstrap" else 0o644
            assert stat.S_IMODE(info.external_attr >> 16) == expected, info.filename
            assert archive.read(info) == (source / info.filename).read_bytes()
    if shutil.which("unzip"):
        checked = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_incompressible_entries_are_stored_and_text_deflated(tmp_path):
    source = make_tree(tmp_path)
    path = tmp_path / "fast.zip"
    fast(source, path)
    with zipfile.ZipFile(path) as archive:
        method = {i.filename: i.compress_type for i in archive.infolist()}
    assert method["lib.so"] == zipfile.ZIP_STORED  # a compressible ELF header must not decide
    assert method["image.png"] == zipfile.ZIP_STORED
    assert method["pkg/__init__.py"] == zipfile.ZIP_STORED  # empty
    assert method["app.py"] == zipfile.ZIP_DEFLATED
    assert method["données/résumé.txt"] == zipfile.ZIP_DEFLATED  # UTF-8 text: probed, compresses
    assert method["pkg/sub/data.json"] == zipfile.ZIP_DEFLATED


@pytest.mark.parametrize(
    ("sample", "stored"),
    [
        ([b""], True),
        ([b"print('hello')\n" * 10], False),
        ([("é" * 500).encode()], False),
        ([random.Random(1).randbytes(1024) for _ in range(3)], True),
        ([b"\x7fELF" + bytes(1020), random.Random(2).randbytes(1024), random.Random(3).randbytes(1024)], True),
        ([bytes(1024), bytes(1024), random.Random(4).randbytes(1024)], False),
    ],
)
def test_store_or_deflate_decision(sample, stored):
    assert package.incompressible(sample) is stored


def test_big_files_are_streamed_with_bounded_memory(big_tree, tmp_path):
    path = tmp_path / "fast.zip"
    only_big = [e for e in entries(big_tree) if e.size > package.STREAM_THRESHOLD]
    assert [e.name for e in only_big] == ["big.bin", "big.csv"]
    tracemalloc.start()
    try:
        package.write_zip(only_big, path, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: a big file was held whole"
    with zipfile.ZipFile(path) as archive:
        info = {i.filename: i for i in archive.infolist()}
        assert info["big.csv"].compress_type == zipfile.ZIP_DEFLATED
        assert info["big.csv"].compress_size < BIG // 2
        assert info["big.bin"].compress_type == zipfile.ZIP_STORED
        for name in ("big.csv", "big.bin"):
            with archive.open(name) as member:
                digest = hashlib.sha256()
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
            assert digest.hexdigest() == hashlib.sha256((big_tree / name).read_bytes()).hexdigest()


def test_code_sha256_equals_what_lambda_reports(tmp_path, moto_server, aws_role):
    source = make_tree(tmp_path)
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
    source = make_tree(tmp_path)
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


# --- big files in chunks -----------------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunked big files on small inputs: 64 KiB chunks above 256 KiB."""
    monkeypatch.setattr(package, "CHUNK", 64 * 1024)
    monkeypatch.setattr(package, "STREAM_THRESHOLD", 256 * 1024)
    return package.CHUNK


def chunk_tree(root: Path, chunk: int) -> Path:
    rng = random.Random(11)
    source = root / "chunky"
    source.mkdir()
    (source / "exact.txt").write_bytes(text(rng, 8 * chunk))  # ends on a chunk boundary
    (source / "odd.csv").write_bytes(text(rng, 13 * chunk + 777))
    (source / "random.bin").write_bytes(rng.randbytes(5 * chunk + 3))  # stored, also in chunks
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
        for name in ("exact.txt", "odd.csv"):
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
            expected = b"".join(package._deflate_chunk(package.FAST.compressobj, c) for c in chunks) + package._FINAL_BLOCK
            assert stream == expected  # fixed boundaries, each segment on its own
            assert zlib.decompress(stream, -15) == original
            assert info.CRC == zlib.crc32(original) and info.file_size == len(original)
        assert archive.getinfo("random.bin").compress_type == zipfile.ZIP_STORED
        assert archive.read("random.bin") == (source / "random.bin").read_bytes()


def test_simple_writer_cuts_big_files_as_the_fast_one(small_chunks, tmp_path):
    source = chunk_tree(tmp_path, small_chunks)
    package.write_zip_simple(entries(source), tmp_path / "simple.zip")
    assert fast(source, tmp_path / "fast.zip", workers=2, codec=package.ZLIB) == (tmp_path / "simple.zip").read_bytes()


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
    source = make_tree(tmp_path, big=True)
    here = package.build(source, tmp_path / "elsewhere", out_dir=tmp_path, workers=2).sha256_hex
    for workers in (1, 3):
        script = FRESH_BUILD.format(root=str(ROOT), source=str(source), out=str(tmp_path), workers=workers)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == here, f"workers={workers}"


# --- the default codec's tiers -----------------------------------------------------------------


@pytest.mark.parametrize("size", [1, package.SMALL_FILE - 1, package.SMALL_FILE, package.LARGE_FILE - 1, package.LARGE_FILE, 3 * package.LARGE_FILE])
def test_fast_codec_tiers_inflate_to_the_original(size):
    data = text(random.Random(size), size)
    assert zlib.decompress(bytes(package.FAST.compress(data)), -15) == data
