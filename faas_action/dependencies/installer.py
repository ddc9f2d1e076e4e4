"""Running uv: the dependencies installed into a fresh directory, wheels only, for the
function's target, within the deadline, stopped at once when the job is cancelled.

Owns: the installer's command line and process (its own process group, killed on a cancel or a
deadline), what its failures mean (a dependency without a wheel for the target, named), and the
Installed result and how it describes the Artifact.
Must not: print (it returns what uv said, redacted), build the zip, or know any cloud API.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import Cancelled, PackagingError
from ..models import Artifact, DependencySpec, Distribution
from .index import installer_environment, redact, secrets
from .reproducible import normalise, tree_sizes
from .requirements import requirement_files
from .target import describe_target

# -- installing -------------------------------------------------------------------------------

CANCEL_POLL_S = 0.1  # how long uv runs on, at most, after the job is cancelled


@dataclass(frozen=True)
class Installed:
    """What `install` left in `root` (a directory to merge into the package's root)."""

    root: Path
    distributions: tuple[Distribution, ...]
    size: int
    python_version: str
    platform: str
    cache: Path  # where uv kept its cache
    log: tuple[str, ...]  # what uv said, redacted, each line prefixed with "uv: "
    duration_s: float

    @property
    def target(self) -> str:
        return describe_target(self.python_version, self.platform)


def described(artifact: Artifact, installed: Installed) -> Artifact:
    """`artifact` (built with `installed` merged in) saying what it holds: the distributions,
    their share of the unzipped size, and the Python version and platform they are for."""
    return dataclasses.replace(
        artifact,
        distributions=installed.distributions,
        dependencies_size=installed.size,
        dependencies_python=installed.python_version,
        dependencies_platform=installed.platform,
    )


def excluded_from(source: Path, installed: Installed) -> tuple[str, ...]:
    """Ignore lines for the packager: the cache, when it is kept inside the source."""
    try:
        relative = installed.cache.resolve().relative_to(source.resolve())
    except ValueError:
        return ()
    return (f"/{relative.as_posix()}/",) if relative.parts else ()


def uv_binary() -> str:
    """The uv executable installed with the action (the PyPI `uv` package, locked in uv.lock)."""
    try:
        import uv
    except ImportError as exc:  # the image always has it; a bare checkout may not
        raise PackagingError("the uv installer is not installed with faas-action (the `uv` package)") from exc
    return uv.find_uv_bin()


def install(
    spec: DependencySpec,
    environ: Mapping[str, str],
    work_dir: Path,
    default_cache: Path,
    timeout_s: float,
    uv: str | None = None,
    cancel: threading.Event | None = None,
) -> Installed:
    """Install `spec`'s dependencies under `work_dir` (a fresh, empty directory), wheels only,
    for `spec`'s Python version and platform; return the installed tree, normalised.

    uv runs with `environ` (see `installer_environment`) in the dependency file's directory, with
    its cache in `spec.cache` or `default_cache`, and is killed when `timeout_s` runs out. Any
    failure is a PackagingError whose message names the platform and is redacted. Once `cancel`
    is set (the runner cancelled the job), no uv starts and a running one is killed at once, with
    its children: Cancelled."""
    _stop_if_cancelled(cancel, spec)
    stopped = f"the job was cancelled while the dependencies of {spec.file.name} were installed: uv was stopped"
    uv = uv or uv_binary()
    hidden = secrets(environ, [spec.file] if spec.locked else requirement_files(spec.file, Path(spec.file.anchor))[0])
    env = installer_environment(environ)
    cache = spec.cache or default_cache
    root = work_dir / "root"
    target = root / spec.prefix if spec.prefix else root
    target.mkdir(parents=True)
    what = describe_target(spec.python_version, spec.platform)
    started = time.monotonic()
    deadline = started + timeout_s
    log: list[str] = []

    requirements = spec.file
    if spec.locked:
        requirements = work_dir / "requirements.lock.txt"
        _run(
            [
                uv, "export", "--frozen", "--format", "requirements.txt", "--no-default-groups",
                "--no-emit-project", "--no-header", "--project", str(spec.file.parent),
                "--cache-dir", str(cache), "--output-file", str(requirements), "--quiet",
            ],
            env, spec.file.parent, deadline, timeout_s, hidden, cancel,
            failure=f"could not read the locked dependencies of {spec.file.name} (uv.lock)", cancelled=stopped,
        )
        _stop_if_cancelled(cancel, spec)
    command = [
        uv, "pip", "install",
        "--target", str(target),
        "--python", sys.executable,  # any interpreter will do: the version and platform are given
        "--python-version", spec.python_version,
        "--python-platform", spec.platform,
        "--only-binary", ":all:",
        "--no-compile",
        "--cache-dir", str(cache),
        "--requirements", str(requirements),
    ]
    if spec.locked:
        command.append("--no-deps")  # the lock already holds the whole set, nothing more is resolved
    output = _run(
        command, env, spec.file.parent, deadline, timeout_s, hidden, cancel,
        failure=f"could not install the dependencies of {spec.file.name} for {what} (wheels only)", cancelled=stopped,
        explain=lambda text: _no_wheel(text, spec),
    )
    log.extend(f"uv: {line}" for line in output.splitlines() if line.strip())
    distributions = normalise(target)
    size = sum(tree_sizes(root).values())
    return Installed(root, distributions, size, spec.python_version, spec.platform, cache, tuple(log),
                     time.monotonic() - started)


def _run(
    command: list[str],
    env: Mapping[str, str],
    cwd: Path,
    deadline: float,
    timeout_s: float,
    hidden: list[str],
    cancel: threading.Event | None,
    failure: str,
    cancelled: str,
    explain=None,
) -> str:
    """Run uv to the end, to the deadline or to a cancellation (then kill it and its children);
    its output, redacted."""
    import subprocess

    try:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True,
        )
    except OSError as exc:
        raise PackagingError(f"{failure}: uv could not start: {exc}") from exc
    while True:
        # Short waits, so that a cancellation is seen within CANCEL_POLL_S; communicate() called
        # again after its timeout loses no output.
        try:
            output, _ = process.communicate(timeout=min(max(deadline - time.monotonic(), 0.0), CANCEL_POLL_S))
            break
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            _kill(process)
            raise Cancelled(cancelled)
        if time.monotonic() >= deadline:
            _kill(process)
            raise PackagingError(
                f"{failure}: uv did not finish within {timeout_s:g} s",
                hint="raise wait-timeout, or check that the package index answers",
            ) from None
    # Which interpreter uv ran under says nothing about the target: leave it out.
    output = "\n".join(line for line in output.strip().splitlines() if not line.startswith("Using CPython "))
    output = redact(output, hidden)
    if process.returncode != 0:
        reason = explain(output) if explain else ""
        said = output or f"uv exited with code {process.returncode}"
        raise PackagingError(f"{reason or failure}\n{said}")
    return output


def _stop_if_cancelled(cancel: threading.Event | None, spec: DependencySpec) -> None:
    """A safe point before uv starts: once the job is cancelled, no install begins."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"the job was cancelled before the dependencies of {spec.file.name} were installed")


def _kill(process) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()
    process.communicate()


# uv: "Because native==2.0 has no wheels with a matching platform tag (e.g., `manylinux_2_34_x86_64`)",
# "Because sdist-only==1.0 has no usable wheels", "... only has source distributions", "... has
# no wheels with a matching Python ABI tag (e.g., `cp313`)".
_NO_WHEEL = (
    r"Because (?:all versions of |only )?([A-Za-z0-9][A-Za-z0-9._-]*?)(?:==([^\s,]+))?(?:<[^ ]*)? "
    r"(?:has no (?:usable )?wheels|has no wheels with a matching|only has source distributions|is only available as a source distribution)"
)


def _no_wheel(output: str, spec: DependencySpec) -> str:
    """"no wheel of X 1.0 for CPython 3.12, manylinux_2_34_x86_64: …" when uv's message says so."""
    names = []
    for name, version in re.findall(_NO_WHEEL, output):
        label = f"{name} {version}".strip()
        if label not in names:
            names.append(label)
    if not names:
        return ""
    return (
        f"no wheel of {', '.join(names)} for {describe_target(spec.python_version, spec.platform)}: only wheels are installed (never a "
        "build from source for the runner's platform); pin a version that has one, or set dependencies-platform"
    )


