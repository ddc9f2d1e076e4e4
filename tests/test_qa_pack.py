"""QA, packaging as a hostile workspace and a demanding user would try it, run as the runner runs
the action (entrypoint.py in a subprocess, every declared input exported) with every cloud endpoint
pointed at a server that answers 503 to anything: a problem the files reveal must be reported
before any request, all at once, one `::error` each, exit 1, never a traceback, never a hang.
Where the bytes of the zip are the point (sizes, identical bytes), `package.build` is called as
the action calls it and the zip is read back.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

from faas_action import package
from faas_action.errors import InputError
from faas_action.package import codec
from tests.qa_checks import ErrorServer, assert_well_behaved, write_python_app
from tests.test_qa_issue10 import Nowhere, aws_inputs

pytestmark = pytest.mark.timeout(120)

RUN_DEADLINE_S = 60


def run_refused(action, inputs: dict[str, str], errors: int):
    """Run the action against a cloud that answers 503: exit 1, `errors` ::error lines, no request."""
    with ErrorServer(503, {}) as cloud:
        env = {**Nowhere().env(), "AWS_ENDPOINT_URL": cloud.url}
        result = action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
        requests = list(cloud.requests)
    assert requests == [], requests
    assert_well_behaved(result, 1, errors=errors)
    return result


def prebuilt_inputs() -> dict[str, str]:
    return {k: v for k, v in aws_inputs(package="p.zip").items() if k != "source"}


def build(source: Path, out: Path, workers: int | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return package.build(source, source.parent / "no-workspace", out_dir=out, workers=workers).path


def names_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


# -- ignore rules --------------------------------------------------------------------------------------


def test_a_negation_in_the_ignore_file_cannot_bring_back_credentials_or_git(tmp_path):
    """README: 'Never packaged: .git/, .github/, gha-creds-*.json'. A whitelist-style ignore file
    (`*`, then `!` what to keep) is common; `!*.json` must not bring back the credentials file
    that google-github-actions/auth writes into the workspace, nor `!.git/` the repository."""
    source = tmp_path / "src"
    write_python_app(source)
    (source / "gha-creds-0123abcd.json").write_text('{"private_key": "-----BEGIN PRIVATE KEY-----"}')
    (source / ".git").mkdir()
    (source / ".git" / "config").write_text("[remote]\n")
    (source / ".github").mkdir()
    (source / ".github" / "deploy.yml").write_text("on: push\n")
    (source / "data.json").write_text("{}")
    (source / ".faasignore").write_text("*\n!app.py\n!*.json\n!.git/\n!.git/**\n!.github/\n!.github/**\n!.faasignore\n")
    assert names_in(build(source, tmp_path / "out")) == ["app.py", "data.json"]


@pytest.mark.parametrize("line", ["\\", "!", "[z-a]", "build/\\"])
def test_an_invalid_ignore_pattern_is_an_input_error_naming_the_line(action, workspace, line):
    """A line that is not valid gitignore syntax crashed the action (exit 2, a traceback from
    pathspec or re): it is a problem of the input file, like an ignore file that leaves the source
    (the walk is not tried with rules that lack a line of the user's: it could report false problems)."""
    write_python_app(workspace / "app")
    (workspace / "app" / ".faasignore").write_text(f"*.pyc\n{line}\n")
    result = run_refused(action, aws_inputs(), errors=1)
    assert ".faasignore" in result.errors[0] and "line 2" in result.errors[0], result.errors


def test_an_invalid_pattern_in_an_included_gcloudignore_file_is_an_input_error(tmp_path):
    source = tmp_path / "src"
    write_python_app(source)
    (source / ".gcloudignore").write_text("#!include:.gitignore\n*.log\n")
    (source / ".gitignore").write_text("node_modules/\n[z-a]\n")
    with pytest.raises(InputError) as caught:
        build_with(source, tmp_path / "out", ignore_file=".gcloudignore")
    assert ".gitignore" in str(caught.value) and "line 2" in str(caught.value), caught.value


def build_with(source: Path, out: Path, ignore_file: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return package.build(source, source.parent / "no-workspace", provider_ignore_file=ignore_file, out_dir=out).path


# -- symlinks ------------------------------------------------------------------------------------------


def test_a_symlink_loop_is_one_problem_among_all_the_others(action, workspace):
    """`loop -> loop` stopped the walk with an OSError (ELOOP): one 'could not package' error, the
    other problems of the tree lost. It is refused like a dangling or escaping symlink."""
    write_python_app(workspace / "app")
    (workspace / "app" / "loop").symlink_to("loop")
    (workspace / "app" / "a").symlink_to("b")
    (workspace / "app" / "b").symlink_to("a")
    (workspace / "app" / "dangling").symlink_to("missing")
    result = run_refused(action, aws_inputs(), errors=4)
    for name in ("'loop'", "'a'", "'b'", "'dangling'"):
        assert [e for e in result.errors if name in e], (name, result.errors)
    assert [e for e in result.errors if "'loop'" in e and "loop" in e.split("'loop'")[1]], result.errors


# -- names ---------------------------------------------------------------------------------------------


def test_a_name_that_the_prebuilt_check_would_refuse_is_never_packaged(action, workspace):
    """A file named `..\\x` or `C:x` was packaged as is: a zip that `package:` refuses (it unpacks
    outside its folder where backslashes are separators, as on Windows Kudu), made by the action
    itself. Refused when building too, each name its own problem."""
    write_python_app(workspace / "app")
    (workspace / "app" / "..\\evil.py").write_text("x = 1\n")
    (workspace / "app" / "C:evil.py").write_text("x = 1\n")
    (workspace / "app" / "lib").mkdir()
    (workspace / "app" / "lib" / "..\\..\\up.py").write_text("x = 1\n")
    (workspace / "app" / "ok\\name.py").write_text("x = 1\n")  # a backslash alone is only a character
    result = run_refused(action, aws_inputs(), errors=3)
    for name in ("..\\evil.py", "C:evil.py", "lib/..\\..\\up.py"):
        assert [e for e in result.errors if name in e], (name, result.errors)


# -- prebuilt packages ---------------------------------------------------------------------------------


def set_flags_and_method(data: bytes, name: bytes, flags: int = 0, method: int | None = None) -> bytes:
    """The zip with entry `name`'s general-purpose flags or-ed with `flags` and its method set to
    `method`, in both its local header and its central directory record."""
    raw = bytearray(data)
    for signature, flags_at, method_at, name_at in ((b"PK\x03\x04", 6, 8, 30), (b"PK\x01\x02", 8, 10, 46)):
        at = raw.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", raw, at + name_at - (2 if signature == b"PK\x03\x04" else 18))[0]
            if bytes(raw[at + name_at : at + name_at + length]) == name:
                struct.pack_into("<H", raw, at + flags_at, struct.unpack_from("<H", raw, at + flags_at)[0] | flags)
                if method is not None:
                    struct.pack_into("<H", raw, at + method_at, method)
            at = raw.find(signature, at + 4)
    return bytes(raw)


def test_a_prebuilt_zip_that_no_cloud_can_unpack_as_meant_is_refused_entry_by_entry(action, workspace):
    """Passed the checks and went to the cloud: the same name twice (which one lands depends on
    the unzip tool: what was reviewed need not be what runs), an encrypted entry (no cloud has the
    password), an entry in a compression method nothing here can read. One problem each, before
    any call."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
        archive.writestr("app.py", "def handler(event, context):\n    return 'reviewed'\n")
        archive.writestr("app.py", "def handler(event, context):\n    return 'runs'\n")
        archive.writestr("secret.py", "x = 1\n")
        archive.writestr("data.bin", "x = 1\n")
    data = set_flags_and_method(buffer.getvalue(), b"secret.py", flags=0x1)
    data = set_flags_and_method(data, b"data.bin", method=99)  # 99: WinZip's AES
    (workspace / "p.zip").write_bytes(data)
    result = run_refused(action, prebuilt_inputs(), errors=3)
    for name, why in (("app.py", "2 times"), ("secret.py", "encrypted"), ("data.bin", "method 99")):
        assert [e for e in result.errors if name in e and why in e], (name, result.errors)


# -- files over HOLD_LIMIT (read and deflated in CHUNK segments) -----------------------------------------


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    rng = random.Random(32)
    source = tmp_path_factory.mktemp("big") / "src"
    source.mkdir()
    size = codec.HOLD_LIMIT + 4321
    block = rng.randbytes(5000)  # repeats 5000 bytes apart: within deflate's reach, across chunk borders
    (source / "repeated.bin").write_bytes((block * (size // len(block) + 1))[:size])
    (source / "log.txt").write_bytes(b"".join(b"%08d GET /api/items/%d 200\n" % (i, i % 977) for i in range(size // 28 + 1))[:size])
    (source / "random.bin").write_bytes(rng.randbytes(size))
    (source / "app.py").write_text("x = 1\n")
    return source


def test_a_big_file_deflates_as_well_as_one_zlib_stream_and_reads_back_for_any_worker_count(big_tree, tmp_path):
    """A file over HOLD_LIMIT is deflated in 1 MiB segments, each a fresh compressor: without the
    previous segment's last 32 KiB as its dictionary, every segment starts blind, and a file of
    blocks repeated 5000 bytes apart came out 1.8x the size of one zlib stream over it (and of
    Info-ZIP's entry). Segments primed with the preceding input (as pigz does) stay within 1% of
    one stream, and stay independent of the worker count."""
    first = build(big_tree, tmp_path / "w1", workers=1)
    for workers in (2, 3, 8):
        assert build(big_tree, tmp_path / f"w{workers}", workers=workers).read_bytes() == first.read_bytes(), workers
    with zipfile.ZipFile(first) as archive:
        assert archive.testzip() is None
        infos = {info.filename: info for info in archive.infolist()}
        for name in ("repeated.bin", "log.txt", "random.bin"):
            data = (big_tree / name).read_bytes()
            assert archive.read(name) == data and infos[name].CRC == zlib.crc32(data)
    assert infos["random.bin"].compress_type == zipfile.ZIP_STORED
    for name in ("repeated.bin", "log.txt"):
        one = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = (big_tree / name).read_bytes()
        one_stream = len(one.compress(data) + one.flush())
        assert infos[name].compress_type == zipfile.ZIP_DEFLATED
        assert infos[name].compress_size <= one_stream * 1.01, (name, infos[name].compress_size, one_stream)
