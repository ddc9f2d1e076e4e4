"""A private Python package index on 127.0.0.1, and the wheels it serves, built by the tests.

Owns: writing wheels (a wheel is a zip holding the package's files and
`{name}-{version}.dist-info/METADATA`, `WHEEL`, `RECORD`), and serving a directory of them as a
PEP 503 "simple" index (`/simple/` lists the projects, `/simple/<project>/` links each file with
its `#sha256=` fragment, `/files/<file>` serves it), optionally behind HTTP basic auth, so the
installer is tested against the same contract PyPI and private indexes (devpi, Artifactory,
CodeArtifact) answer. Every request is recorded.
Must not: import faas_action, or reach the network beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# A fixed timestamp: the same wheel bytes on every run.
_WHEEL_DATE = (2024, 1, 2, 3, 4, 6)


def normalize(name: str) -> str:
    """PEP 503 project name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    tag: str = "py3-none-any",
    files: dict[str, bytes | str] | None = None,
    requires: tuple[str, ...] = (),
    console_scripts: dict[str, str] | None = None,
    stored: bool = False,
) -> Path:
    """Write `{name}-{version}-{tag}.whl` into `directory` and return its path. `files` maps
    archive names to contents (default: `{name}/__init__.py` saying its version and tag)."""
    directory.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_").lower()
    dist = f"{module}-{version}"
    if files is None:
        files = {f"{module}/__init__.py": f"__version__ = {version!r}\nBUILT_FOR = {tag!r}\n"}
    purelib = tag.endswith("-none-any")
    metadata = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        + [f"Requires-Dist: {r}" for r in requires]
    ) + "\n"
    wheel_file = (
        "Wheel-Version: 1.0\nGenerator: faas-action-tests\n"
        f"Root-Is-Purelib: {'true' if purelib else 'false'}\nTag: {tag}\n"
    )
    contents: dict[str, bytes] = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    contents[f"{dist}.dist-info/METADATA"] = metadata.encode()
    contents[f"{dist}.dist-info/WHEEL"] = wheel_file.encode()
    if console_scripts:
        lines = ["[console_scripts]"] + [f"{k} = {v}" for k, v in console_scripts.items()]
        contents[f"{dist}.dist-info/entry_points.txt"] = ("\n".join(lines) + "\n").encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for archive_name, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([archive_name, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist}.dist-info/RECORD", "", ""])
    contents[f"{dist}.dist-info/RECORD"] = record.getvalue().encode()
    path = directory / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for archive_name, data in contents.items():
            info = zipfile.ZipInfo(archive_name, _WHEEL_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def write_sdist(directory: Path, name: str, version: str) -> Path:
    """A source distribution `{name}-{version}.tar.gz` (a setup.py that would build): the
    installer must never build it, only wheels are installed."""
    directory.mkdir(parents=True, exist_ok=True)
    base = f"{name.replace('-', '_')}-{version}"
    path = directory / f"{base}.tar.gz"
    files = {
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{base}/setup.py": f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n",
    }
    with tarfile.open(path, "w:gz") as archive:
        for archive_name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(archive_name)
            info.size = len(data)
            info.mtime = 1704164646
            archive.addfile(info, io.BytesIO(data))
    return path


def _project(filename: str) -> str:
    """The normalised project name of a wheel or sdist file name."""
    return normalize(re.split(r"-\d", filename, maxsplit=1)[0])


@dataclass
class PackageIndex:
    """A PEP 503 index over `directory` on 127.0.0.1; `start()` then `url` (credentials
    included when `username` is set) and `stop()`."""

    directory: Path
    username: str | None = None
    password: str | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)  # ('GET /path', Authorization header)

    def start(self) -> "PackageIndex":
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                self.do_GET()

            def do_GET(self) -> None:  # noqa: N802
                auth = self.headers.get("Authorization", "")
                index.requests.append((f"{self.command} {self.path}", auth))
                if index.username is not None:
                    expected = "Basic " + base64.b64encode(f"{index.username}:{index.password}".encode()).decode()
                    if auth != expected:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="private index"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                path = self.path.split("?", 1)[0]
                if path in ("/simple", "/simple/"):
                    projects = sorted({_project(w.name) for w in index.files()})
                    return self._html("".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in projects))
                match = re.fullmatch(r"/simple/([^/]+)/?", path)
                if match:
                    wanted = normalize(match.group(1))
                    links = [
                        f'<a href="/files/{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">{w.name}</a>\n'
                        for w in index.files()
                        if _project(w.name) == wanted
                    ]
                    if not links:
                        return self._empty(404)
                    return self._html("".join(links))
                match = re.fullmatch(r"/files/([^/]+\.(?:whl|tar\.gz))", path)
                if match and (index.directory / match.group(1)).is_file():
                    data = (index.directory / match.group(1)).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    # As PyPI's file host: a file never changes under its name.
                    self.send_header("Cache-Control", "max-age=365000000, immutable, public")
                    self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                    self.end_headers()
                    if self.command == "GET":
                        self.wfile.write(data)
                    return
                self._empty(404)

            def _html(self, body: str) -> None:
                data = f"<!DOCTYPE html><html><body>\n{body}</body></html>\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Cache-Control", "max-age=600, public")  # as PyPI's simple pages
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def files(self) -> list[Path]:
        return sorted([*self.directory.glob("*.whl"), *self.directory.glob("*.tar.gz")])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        credentials = f"{self.username}:{self.password}@" if self.username is not None else ""
        return f"http://{credentials}{self.host}/simple"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the distributions the tests install --------------------------------------------------------

INDEX_USER = "deploy-bot"
INDEX_PASSWORD = "s3cr3t-index-t0ken"  # must never show up in a log, an output or a summary


def write_test_distributions(directory: Path) -> None:
    """`hello-dep` (pure Python) needs `native-dep`, which has one wheel per architecture (files
    that say which), for CPython 3.9+ (abi3) on manylinux_2_17; `no-wheel-dep` has a Windows wheel
    and an sdist only; `new-glibc-dep` has a manylinux_2_28 wheel only (loads on Amazon Linux 2023,
    not on Amazon Linux 2); `tool-dep` has a console script (the installer writes bin/ for it)."""
    write_wheel(directory, "hello-dep", "1.0", requires=("native-dep>=2",),
                files={"hello_dep/__init__.py": "from native_dep import ARCH\n\ndef hello():\n    return 'hello from ' + ARCH\n"})
    for machine in ("x86_64", "aarch64"):
        write_wheel(directory, "native-dep", "2.0", tag=f"cp39-abi3-manylinux_2_17_{machine}",
                    files={"native_dep/__init__.py": f"ARCH = {machine!r}\n",
                           "native_dep/_speedups.abi3.so": b"\x7fELF" + machine.encode() * 64})
    write_wheel(directory, "no-wheel-dep", "1.0", tag="cp312-cp312-win_amd64")
    write_sdist(directory, "no-wheel-dep", "1.0")
    write_wheel(directory, "new-glibc-dep", "3.0", tag="cp39-abi3-manylinux_2_28_x86_64",
                files={"new_glibc_dep/__init__.py": "GLIBC = '2.28'\n"})
    write_wheel(directory, "tool-dep", "0.5", console_scripts={"tool": "tool_dep:main"},
                files={"tool_dep/__init__.py": "def main():\n    return 0\n"})


@pytest.fixture(scope="session")
def package_index(tmp_path_factory) -> "PackageIndex":
    """The test distributions behind HTTP basic auth on 127.0.0.1 (one server per session)."""
    directory = tmp_path_factory.mktemp("package-index")
    write_test_distributions(directory)
    index = PackageIndex(directory, INDEX_USER, INDEX_PASSWORD).start()
    yield index
    index.stop()


def installer_env(index: "PackageIndex", **extra: str) -> dict[str, str]:
    """What a workflow sets to use the private index; and nothing of the machine's uv config."""
    return {"UV_INDEX_URL": index.url, "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", **extra}
