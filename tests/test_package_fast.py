"""The fast zip writer: same bytes whatever the worker count, the same archive as the simple
zipfile path, stored entries for incompressible data, big files streamed, Lambda's CodeSha256,
and a `provider: aws` run that loads no other cloud's SDK. No timing here: that is bench/."""

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
from pathlib import Path

import pytest

from faas_action import package
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
    deflate streams differ (ISA-L instead of zlib)."""
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
