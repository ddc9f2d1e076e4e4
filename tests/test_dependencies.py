"""Installing a function's Python dependencies (faas_action/dependencies/) and the input rules
around them: table-driven rules, then real installs by the locked uv from a private index on
127.0.0.1 that the tests fill with wheels (tests/fakes/package_index.py). Nothing reaches PyPI:
UV_INDEX_URL names the local index and uv reads no machine configuration (UV_NO_CONFIG)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from faas_action import config, dependencies
from faas_action.errors import Cancelled, PackagingError
from faas_action.models import DependencySpec
from tests.fakes.package_index import (  # noqa: F401 (fixture)
    INDEX_PASSWORD,
    installer_env,
    package_index,
    write_wheel,
)

AWS = {"provider": "aws", "function-name": "fn", "region": "eu-west-1", "source": "src"}
AZURE = {"provider": "azure", "function-name": "app", "resource-group": "rg", "source": "src",
         "subscription-id": "00000000-0000-0000-0000-000000000000"}
GCP = {"provider": "gcp", "function-name": "fn", "region": "us-central1", "project": "my-project-1", "source": "src"}


# -- the target --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "runtime", "architecture", "platform"),
    [
        ("aws", "python3.12", "x86_64", "x86_64-manylinux_2_34"),  # Amazon Linux 2023: glibc 2.34
        ("aws", "python3.13", "arm64", "aarch64-manylinux_2_34"),
        ("aws", "python3.14", "x86_64", "x86_64-manylinux_2_34"),
        ("aws", "python3.11", "x86_64", "x86_64-manylinux_2_17"),  # Amazon Linux 2: glibc 2.26
        ("aws", "python3.9", "arm64", "aarch64-manylinux_2_17"),
        ("azure", "python3.11", "x86_64", "x86_64-manylinux_2_28"),
    ],
)
def test_default_platform_follows_the_runtime_and_architecture(provider, runtime, architecture, platform):
    version = dependencies.python_version(runtime)
    assert dependencies.default_platform(provider, version, architecture) == platform


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("x86_64-manylinux_2_28", "x86_64-manylinux_2_28"),
        ("manylinux_2_28_aarch64", "aarch64-manylinux_2_28"),
        ("manylinux2014_x86_64", "x86_64-manylinux_2_17"),
        ("aarch64-manylinux2014", "aarch64-manylinux_2_17"),
        ("manylinux_2_26_x86_64", None),  # a level uv cannot target
        ("linux", None),
        ("win_amd64", None),
        ("x86_64-unknown-linux-gnu", None),
    ],
)
def test_parse_platform(value, parsed):
    assert dependencies.parse_platform(value) == parsed


@pytest.mark.parametrize(
    ("runtime", "version"),
    [("python3.12", "3.12"), ("python3.9", "3.9"), ("nodejs20.x", None), ("python312", None), (None, None)],
)
def test_python_version(runtime, version):
    assert dependencies.python_version(runtime) == version


# -- input rules: all before any network call ---------------------------------------------------


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    (tmp_path / "src" / "requirements.txt").write_text("hello-dep==1.0\n")
    (tmp_path / "outside.txt").write_text("hello-dep\n")
    (tmp_path / "src" / "proj").mkdir()
    (tmp_path / "src" / "proj" / "pyproject.toml").write_text("[project]\nname='p'\nversion='1'\n")
    return tmp_path


def load(inputs, workspace, environ=None):
    values = dict(config.input_defaults())
    values.update(inputs)
    return config.load(values, environ or {}, workspace)


@pytest.mark.parametrize(
    ("inputs", "fields", "fragment"),
    [
        ({**AWS, "dependencies": "requirements.txt"}, ["runtime"], "required with `dependencies`"),
        ({**AWS, "dependencies": "requirements.txt", "runtime": "nodejs20.x"}, ["dependencies"], "not a Python runtime"),
        ({**AWS, "dependencies": "missing.txt", "runtime": "python3.12"}, ["dependencies"], "does not exist"),
        ({**AWS, "dependencies": "../outside.txt", "runtime": "python3.12"}, ["dependencies"], "outside `source`"),
        ({**AWS, "dependencies": "proj/pyproject.toml", "runtime": "python3.12"}, ["dependencies"], "uv.lock"),
        ({**GCP, "dependencies": "requirements.txt"}, ["dependencies"], "Cloud Build"),
        ({**AWS, "dependencies-platform": "manylinux2014_x86_64"}, ["dependencies-platform"], "only with `dependencies`"),
        ({**AWS, "dependencies-cache": ".cache"}, ["dependencies-cache"], "only with `dependencies`"),
        ({**AWS, "dependencies": "requirements.txt", "runtime": "python3.12", "dependencies-platform": "macos"},
         ["dependencies-platform"], "not a manylinux platform"),
        ({**AWS, "dependencies": "requirements.txt", "runtime": "python3.12", "architectures": "arm64",
          "dependencies-platform": "manylinux_2_28_x86_64"}, ["dependencies-platform"], "runs on arm64"),
        ({**AWS, "dependencies": "requirements.txt", "runtime": "python3.11",
          "dependencies-platform": "manylinux_2_28_x86_64"}, ["dependencies-platform"], "Amazon Linux 2 (glibc 2.26)"),
        ({**AWS, "dependencies": "requirements.txt", "runtime": "python3.12", "dependencies-cache": "../.."},
         ["dependencies-cache"], "outside the workspace"),
        ({**AZURE, "dependencies": "requirements.txt"}, ["runtime"], "required with `dependencies`"),
        ({**AZURE, "runtime": "python3.11"}, ["runtime"], "only names the Python version"),
        ({**AZURE, "dependencies": "requirements.txt", "runtime": "python3.11", "remote-build": "true"},
         ["remote-build"], "not both"),
        ({**AZURE, "remote-build": "true", "deploy-method": "run-from-package"}, ["remote-build"], "no remote build"),
        ({**AWS, "remote-build": "true"}, ["remote-build"], "does not apply to provider aws"),
        ({**AZURE, "remote-build": "maybe"}, ["remote-build"], "not a boolean"),
    ],
)
def test_dependency_input_rules(ws, inputs, fields, fragment):
    result = load(inputs, ws)
    assert [p.field for p in result.problems] == fields, result.problems
    assert fragment in result.problems[0].message
    assert not result.specs


def test_dependencies_on_a_ready_made_package_is_refused(ws):
    import zipfile

    with zipfile.ZipFile(ws / "dist.zip", "w") as archive:
        archive.writestr("app.py", "x = 1\n")
    result = load({**AWS, "source": ".", "package": "dist.zip", "dependencies": "requirements.txt", "runtime": "python3.12"}, ws)
    assert [p.field for p in result.problems] == ["dependencies"]
    assert "ready-made `package`" in result.problems[0].message


def test_valid_dependencies_become_a_spec(ws):
    (ws / "src" / "proj" / "uv.lock").write_text('version = 1\n\n[[package]]\nname = "p"\nversion = "1"\nsource = { virtual = "." }\n')
    result = load({**AWS, "dependencies": "proj/pyproject.toml", "runtime": "python3.13", "architectures": "arm64",
                   "dependencies-cache": "src/.uv-cache"}, ws)
    assert not result.problems, result.problems
    wanted = result.specs[0].dependencies
    assert wanted == DependencySpec(ws / "src" / "proj" / "pyproject.toml", "3.13", "aarch64-manylinux_2_34",
                                    ws / "src" / ".uv-cache", "")
    assert wanted.locked

    azure = load({**AZURE, "dependencies": "requirements.txt", "runtime": "python3.11"}, ws).specs[0]
    assert azure.dependencies.platform == "x86_64-manylinux_2_28"
    assert azure.dependencies.prefix == ".python_packages/lib/site-packages"
    assert load({**AZURE, "remote-build": "true"}, ws).specs[0].options.remote_build is True


def test_index_credentials_are_collected_for_masking(ws):
    (ws / "src" / "requirements.txt").write_text(
        "--extra-index-url https://__token__:file-t%40ken@pkgs.example/simple\n"
        "private @ https://${PRIVATE_TOKEN}@files.example/private-1.0-py3-none-any.whl\nhello-dep\n"
    )
    environ = {
        "PIP_INDEX_URL": "https://ci:pip-pass@mirror.example/simple",
        "UV_EXTRA_INDEX_URL": "https://tok3n-as-user@extra.example/simple https://u:second-pass@x.example/s "
                              "https://t0ken-empty-pass:@y.example/s",
        "UV_INDEX_INTERNAL_PASSWORD": "named-index-pass",
        "PRIVATE_TOKEN": "expanded-token",
        "UNRELATED": "https://a:not-an-index@example.com",
    }
    result = load({**AWS, "dependencies": "requirements.txt", "runtime": "python3.12"}, ws, environ)
    assert not result.problems
    assert set(result.secrets) == {"pip-pass", "tok3n-as-user", "second-pass", "t0ken-empty-pass", "named-index-pass",
                                   "file-t%40ken", "file-t@ken", "expanded-token"}
    # Without `dependencies` nothing about indexes is collected.
    assert load({**AWS}, ws, environ).secrets == ()


def test_pip_settings_are_translated_only_when_uv_has_none():
    env = dependencies.installer_environment({
        "PIP_INDEX_URL": "https://mirror/simple",
        "PIP_EXTRA_INDEX_URL": "https://a/simple https://b/simple",
        "UV_INDEX": "internal=https://internal/simple",  # uv's own form wins over pip's extra URLs
        "PIP_FIND_LINKS": "/wheels  https://links/",
        "PIP_NO_INDEX": "false",
        "PIP_TRUSTED_HOST": "mirror",
        "UV_COMPILE_BYTECODE": "1",  # the image's setting: never applies to a function's package
        "INPUT_AZURE-ACCESS-TOKEN": "token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-token",
        "HTTPS_PROXY": "http://proxy:3128",
    })
    assert not [k for k in env if k.startswith(("INPUT_", "ACTIONS_"))]
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["UV_INDEX_URL"] == "https://mirror/simple"
    assert "UV_EXTRA_INDEX_URL" not in env
    assert env["UV_FIND_LINKS"] == "/wheels,https://links/"
    assert "UV_NO_INDEX" not in env
    assert env["UV_INSECURE_HOST"] == "mirror"
    assert "UV_COMPILE_BYTECODE" not in env
    kept = dependencies.installer_environment({"UV_INDEX_URL": "https://uv/simple", "PIP_INDEX_URL": "https://pip/simple"})
    assert kept["UV_INDEX_URL"] == "https://uv/simple"


def test_settings_that_change_the_installed_files_are_overridden_or_dropped():
    runner = {"UV_LINK_MODE": "symlink", "UV_RESOLUTION": "lowest", "UV_PRERELEASE": "allow", "UV_TORCH_BACKEND": "auto",
              "UV_EXCLUDE_NEWER": "2020-01-01T00:00:00Z", "UV_CONSTRAINT": "/etc/pins.txt", "UV_OVERRIDE": "/etc/o.txt",
              "UV_NO_BINARY_PACKAGE": "native-dep", "UV_WORKING_DIR": "/elsewhere", "UV_CACHE_DIR": "/cache",
              "UV_INDEX_URL": "https://mirror/simple"}
    env = dependencies.installer_environment(runner)
    assert env["UV_LINK_MODE"] == "copy"
    assert not {"UV_RESOLUTION", "UV_PRERELEASE", "UV_TORCH_BACKEND", "UV_EXCLUDE_NEWER", "UV_CONSTRAINT", "UV_OVERRIDE",
                "UV_NO_BINARY_PACKAGE", "UV_WORKING_DIR"} & set(env)
    assert env["UV_CACHE_DIR"] == "/cache" and env["UV_INDEX_URL"] == "https://mirror/simple"


def test_redact_hides_secrets_and_url_passwords():
    text = "GET https://bot:pa55word@host/simple failed; token abc-secret; https://only-token@h/x https://tok:@h/y"
    assert dependencies.redact(text, ["abc-secret"]) == (
        "GET https://bot:***@host/simple failed; token ***; https://***@h/x https://***@h/y"
    )


# -- installs from the local index --------------------------------------------------------------


def spec_for(tmp_path: Path, requirements: str, python: str = "3.12", platform: str = "x86_64-manylinux_2_34", **extra) -> DependencySpec:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "requirements.txt").write_text(requirements)
    return DependencySpec(source / "requirements.txt", python, platform, **extra)


def install(spec: DependencySpec, tmp_path: Path, environ: dict[str, str], timeout_s: float = 60, name: str = "work"):
    work = tmp_path / name
    work.mkdir()
    return dependencies.install(spec, {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **environ}, work,
                                default_cache=tmp_path / "cache", timeout_s=timeout_s)


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("platform", "machine"), [("x86_64-manylinux_2_34", "x86_64"), ("aarch64-manylinux_2_34", "aarch64")])
def test_install_picks_the_wheel_of_the_target_platform(tmp_path, package_index, platform, machine):
    installed = install(spec_for(tmp_path, "hello-dep==1.0\ntool-dep\n", platform=platform), tmp_path, installer_env(package_index))
    assert (installed.root / "native_dep" / "__init__.py").read_text() == f"ARCH = {machine!r}\n"
    assert [(d.name, d.version) for d in installed.distributions] == [("hello-dep", "1.0"), ("native-dep", "2.0"), ("tool-dep", "0.5")]
    files = tree(installed.root)
    assert installed.size == sum((installed.root / f).stat().st_size for f in files)
    assert sum(d.size for d in installed.distributions) == installed.size
    # What varies between runs or runners is gone: bytecode, installer files, console scripts
    # (their first line names this runner's interpreter), uv's lock file.
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.rsplit("/", 1)[-1] in ("INSTALLER", "REQUESTED", "direct_url.json", ".lock")]
    assert not [f for f in files if f.startswith("bin/")]
    record = (installed.root / "tool_dep-0.5.dist-info" / "RECORD").read_text().splitlines()
    assert [row.split(",")[0] for row in record] == sorted(
        f for f in files if f.startswith(("tool_dep/", "tool_dep-0.5.dist-info/"))
    )
    assert any(line.startswith("uv: Installed 3 packages") for line in installed.log)


def test_two_installs_give_the_same_tree_whatever_the_cache_and_settings(tmp_path, package_index):
    spec = spec_for(tmp_path, "hello-dep\ntool-dep\n")
    cold = install(spec, tmp_path, installer_env(package_index), name="one")
    # A warm cache, and an environment that asks for bytecode and hard links: the same files.
    warm = install(spec, tmp_path, installer_env(package_index, UV_COMPILE_BYTECODE="1", UV_LINK_MODE="hardlink"), name="two")
    assert tree(cold.root) == tree(warm.root)
    assert cold.distributions == warm.distributions
    # Symbolic links into the cache would leave the tree (the packager refuses them): copies instead.
    linked = install(spec, tmp_path, installer_env(package_index, UV_LINK_MODE="symlink"), name="three")
    assert tree(linked.root) == tree(cold.root)
    assert not [p for p in linked.root.rglob("*") if p.is_symlink()]


def test_python_3_11_gets_manylinux2014_wheels_only(tmp_path, package_index):
    """new-glibc-dep has a manylinux_2_28 wheel only: fine on python3.12 (Amazon Linux 2023), not
    on python3.11 (Amazon Linux 2, glibc 2.26), where the error names it and the platform."""
    ok = install(spec_for(tmp_path, "new-glibc-dep\n", "3.12", dependencies.default_platform("aws", "3.12", "x86_64")),
                 tmp_path, installer_env(package_index), name="al2023")
    assert [d.name for d in ok.distributions] == ["new-glibc-dep"]
    with pytest.raises(PackagingError) as error:
        install(spec_for(tmp_path, "new-glibc-dep\n", "3.11", dependencies.default_platform("aws", "3.11", "x86_64")),
                tmp_path, installer_env(package_index), name="al2")
    assert "no wheel of new-glibc-dep 3.0 for CPython 3.11, manylinux_2_17_x86_64" in str(error.value)


def test_no_wheel_for_the_platform_names_the_dependency_and_platform(tmp_path, package_index):
    """no-wheel-dep has an sdist and a Windows wheel: never built from source, never the wrong wheel."""
    with pytest.raises(PackagingError) as error:
        install(spec_for(tmp_path, "hello-dep\nno-wheel-dep==1.0\n"), tmp_path, installer_env(package_index))
    message = str(error.value)
    assert message.startswith("no wheel of no-wheel-dep 1.0 for CPython 3.12, manylinux_2_34_x86_64")
    assert "uv" in message or "No solution" in message
    assert INDEX_PASSWORD not in message
    assert not [p for p in package_index.requests if p[0].endswith(".tar.gz")], "the sdist was fetched"


def test_hashes_in_the_requirements_file_are_checked(tmp_path, package_index):
    wheel = next(p for p in package_index.files() if p.name.startswith("tool_dep-"))
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    installed = install(spec_for(tmp_path, f"tool-dep==0.5 --hash=sha256:{good}\n"), tmp_path, installer_env(package_index), name="good")
    assert [d.name for d in installed.distributions] == ["tool-dep"]
    with pytest.raises(PackagingError) as error:
        install(spec_for(tmp_path, f"tool-dep==0.5 --hash=sha256:{'0' * 64}\n"), tmp_path, installer_env(package_index), name="bad")
    assert "hash" in str(error.value).lower()


def test_pip_index_url_is_honoured_and_its_password_never_shown(tmp_path, package_index):
    env = {"PIP_INDEX_URL": package_index.url, "UV_NO_CONFIG": "1"}
    before = len(package_index.requests)
    installed = install(spec_for(tmp_path, "hello-dep\n"), tmp_path, env, name="ok")
    assert [d.name for d in installed.distributions] == ["hello-dep", "native-dep"]
    assert package_index.requests[before:] and all(auth.startswith("Basic ") for _, auth in package_index.requests[before:])
    assert not [line for line in installed.log if INDEX_PASSWORD in line]
    with pytest.raises(PackagingError) as error:
        install(spec_for(tmp_path, "does-not-exist\n"), tmp_path, env, name="missing")
    assert "does-not-exist" in str(error.value) and INDEX_PASSWORD not in str(error.value)


def test_a_locked_pyproject_installs_exactly_the_lock(tmp_path, package_index):
    project = tmp_path / "src"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "fn"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["hello-dep"]\n'
        '[dependency-groups]\ndev = ["tool-dep"]\n'
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **installer_env(package_index)}
    lock = subprocess.run([dependencies.uv_binary(), "lock", "--cache-dir", str(tmp_path / "cache")], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert lock.returncode == 0, lock.stderr
    assert INDEX_PASSWORD not in (project / "uv.lock").read_text()
    # A newer native-dep on the index must not matter: the lock pins 2.0.
    write_wheel(package_index.directory, "native-dep", "2.1", tag="cp39-abi3-manylinux_2_17_x86_64")
    try:
        spec = DependencySpec(project / "pyproject.toml", "3.12", "x86_64-manylinux_2_34")
        installed = install(spec, tmp_path, installer_env(package_index))
    finally:
        (package_index.directory / "native_dep-2.1-cp39-abi3-manylinux_2_17_x86_64.whl").unlink()
    assert [(d.name, d.version) for d in installed.distributions] == [("hello-dep", "1.0"), ("native-dep", "2.0")]
    assert not (installed.root / "fn").exists()  # the project itself is the source, not a dependency


class SilentIndex:
    """An index that accepts connections and never answers; it keeps each accepted connection,
    so a test can tell when uv has connected and when it has gone (its connections closed)."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/simple"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                self.accepted.append(self.server.accept()[0])
            except OSError:
                continue

    def all_closed(self, timeout: float) -> bool:
        """Has every accepted connection been closed by the other end (uv and its children gone)?"""
        for connection in list(self.accepted):
            connection.settimeout(timeout)
            try:
                while connection.recv(65536):  # what uv sent, then b"" once its end is closed
                    pass
            except OSError:  # still open when the time was up
                return False
        return True

    def __enter__(self) -> "SilentIndex":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        for connection in self.accepted:
            connection.close()
        self.server.close()


def test_a_silent_index_is_cut_off_at_the_deadline(tmp_path):
    """An index that accepts connections and never answers: uv is killed when the time is up."""
    with SilentIndex() as index:
        started = time.monotonic()
        with pytest.raises(PackagingError) as error:
            install(spec_for(tmp_path, "hello-dep\n"), tmp_path, {"UV_INDEX_URL": index.url, "UV_NO_CONFIG": "1"}, timeout_s=1.5)
        assert time.monotonic() - started < 10
        assert "did not finish within 1.5 s" in str(error.value)


def test_a_cancellation_stops_uv_at_once(tmp_path):
    """The runner cancels the job while uv waits on the index: uv and its children are killed
    within a fraction of wait-timeout, and Cancelled (not a packaging failure) says why."""
    cancel = threading.Event()
    with SilentIndex() as index:
        failure: list[BaseException] = []

        def run() -> None:
            try:
                dependencies.install(spec_for(tmp_path, "hello-dep\n"), {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                     "UV_INDEX_URL": index.url, "UV_NO_CONFIG": "1"}, tmp_path / "work",
                                     default_cache=tmp_path / "cache", timeout_s=120, cancel=cancel)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                failure.append(exc)

        (tmp_path / "work").mkdir()
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        deadline = time.monotonic() + 30
        while not index.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert index.accepted, "uv never asked the index"
        cancel.set()
        worker.join(timeout=5)
        assert not worker.is_alive(), "uv was still waited on 5 s after the cancellation"
        assert len(failure) == 1 and isinstance(failure[0], Cancelled), failure
        assert "cancelled" in str(failure[0]) and "requirements.txt" in str(failure[0])
        assert index.all_closed(timeout=5), "uv (or a child) still holds its connection to the index"


def test_no_install_starts_after_a_cancellation(tmp_path):
    cancel = threading.Event()
    cancel.set()
    with SilentIndex() as index:
        (tmp_path / "work").mkdir()
        with pytest.raises(Cancelled):
            dependencies.install(spec_for(tmp_path, "hello-dep\n"), {"PATH": os.environ["PATH"], "UV_INDEX_URL": index.url},
                                 tmp_path / "work", default_cache=tmp_path / "cache", timeout_s=60, cancel=cancel)
        time.sleep(0.3)
        assert index.accepted == []
