"""A Python function's dependencies, installed for the platform it runs on, the same on every run.

Owns: the target (the Python version from `runtime`; the manylinux platform from the
architecture and the glibc of the platform's runtime images), the installer (uv, the exact
version locked with the action, found with `uv.find_uv_bin()`; wheels only, no bytecode), the
index settings it honours (uv's UV_* ones, and pip's PIP_* ones translated when no UV_* one is
set) and the passwords and tokens in them, and making the installed tree reproducible (no
`__pycache__`, no installer metadata that varies between runs, RECORD listing only what ships).
Must not: read os.environ (the environment is an argument), print or emit workflow commands
(it returns data and raises PackagingError, or Cancelled once the job's cancel event is set;
main.py logs), build the zip (the package module does), or know any cloud API.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from . import userfiles
from .errors import Cancelled, PackagingError
from .models import Artifact, DependencySpec, Distribution

# csv, email.parser, signal and subprocess are imported where an install needs them: config/ and
# render.py import this module on every run, most of which install nothing (~7 ms saved).

# -- the target: which wheels -----------------------------------------------------------------

MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's architecture names → wheel tags'
# The glibc levels uv can target (`uv pip install --python-platform`); manylinux2014 is 2_17.
GLIBC_LEVELS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
# Lambda's Python runtimes up to python3.11 run on Amazon Linux 2 (glibc 2.26): the newest level
# uv targets at or below it is manylinux_2_17 (manylinux2014, what AWS's own guide uses). From
# python3.12 they run on Amazon Linux 2023 (glibc 2.34), which loads manylinux_2_34 wheels and
# older: a package that ships only manylinux_2_28 wheels installs there, as it should.
LAMBDA_AL2023_FROM = (3, 12)
LAMBDA_GLIBC = {"al2": (2, 26), "al2023": (2, 34)}
# Azure Functions' Python images are Debian 11 or 12 (glibc 2.31, 2.36) on x86_64: manylinux_2_28
# wheels load on both.
AZURE_LEVEL = 28

# Patterns stay strings (compiled and cached by `re` on first use): most runs never need them.
_PLATFORM_UV = r"(x86_64|aarch64)-manylinux(?:_2_(\d+)|(2014))"
_PLATFORM_TAG = r"manylinux(?:_2_(\d+)|(2014))_(x86_64|aarch64)"
_RUNTIME = r"python(3)\.(\d{1,2})"


def python_version(runtime: str | None) -> str | None:
    """`python3.12` → "3.12"; None for anything that is not a Python runtime."""
    match = re.fullmatch(_RUNTIME, (runtime or "").strip().lower())
    return f"{match.group(1)}.{match.group(2)}" if match else None


def default_platform(provider: str, version: str, architecture: str) -> str:
    """uv's `--python-platform` for a provider's runtime images (see the constants above)."""
    machine = MACHINES.get(architecture, architecture)
    if provider == "aws":
        level = 34 if _version_tuple(version) >= LAMBDA_AL2023_FROM else 17
    else:
        level = AZURE_LEVEL
    return f"{machine}-manylinux_2_{level}"


def parse_platform(value: str) -> str | None:
    """A `dependencies-platform` value in uv's form (`aarch64-manylinux_2_28`) or as a wheel's
    platform tag (`manylinux_2_28_aarch64`, `manylinux2014_x86_64`) → uv's form; None when it is
    neither or names a glibc level uv cannot target."""
    value = value.strip()
    match = re.fullmatch(_PLATFORM_UV, value)
    if match:
        machine, level, legacy = match.groups()
    else:
        match = re.fullmatch(_PLATFORM_TAG, value)
        if not match:
            return None
        level, legacy, machine = match.groups()
    number = 17 if legacy else int(level)
    if number not in GLIBC_LEVELS:
        return None
    return f"{machine}-manylinux_2_{number}"


def platform_tag(platform: str) -> str:
    """uv's `x86_64-manylinux_2_34` → the wheel tag `manylinux_2_34_x86_64` (as uv's messages say it)."""
    machine, _, level = platform.partition("-")
    return f"{level}_{machine}"


def platform_problems(provider: str, version: str, platform: str, architecture: str) -> list[str]:
    """Why wheels for `platform` would not load where the function runs (empty when they would)."""
    machine, _, level = platform.partition("-")
    problems = []
    wanted = MACHINES.get(architecture, architecture)
    if machine != wanted:
        problems.append(f"{platform_tag(platform)} wheels are for {machine}, but the function runs on {architecture}")
    glibc = (2, int(level.rsplit("_", 1)[1]))
    if provider == "aws":
        image = "al2023" if _version_tuple(version) >= LAMBDA_AL2023_FROM else "al2"
        available = LAMBDA_GLIBC[image]
        if glibc > available:
            name = "Amazon Linux 2023" if image == "al2023" else "Amazon Linux 2"
            problems.append(
                f"python{version} on Lambda runs on {name} (glibc {available[0]}.{available[1]}), which cannot "
                f"load {platform_tag(platform)} wheels; use manylinux_2_{17 if image == 'al2' else 34} or older"
            )
    return problems


def describe_target(python_version: str, platform: str) -> str:
    """"CPython 3.12, manylinux_2_34_x86_64": for messages, the plan and the summary."""
    return f"CPython {python_version}, {platform_tag(platform)}"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# -- index settings and their secrets ---------------------------------------------------------

# pip's settings and uv's equivalents; a pip one is used only when none of its uv forms is set.
PIP_TO_UV: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("PIP_INDEX_URL", ("UV_INDEX_URL", "UV_DEFAULT_INDEX"), "UV_INDEX_URL"),
    ("PIP_EXTRA_INDEX_URL", ("UV_EXTRA_INDEX_URL", "UV_INDEX"), "UV_EXTRA_INDEX_URL"),
    ("PIP_FIND_LINKS", ("UV_FIND_LINKS",), "UV_FIND_LINKS"),
    ("PIP_NO_INDEX", ("UV_NO_INDEX",), "UV_NO_INDEX"),
    ("PIP_TRUSTED_HOST", ("UV_INSECURE_HOST",), "UV_INSECURE_HOST"),
)
URL_SETTINGS = (
    "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
)
# uv reads credentials of a named index from UV_INDEX_<NAME>_USERNAME / _PASSWORD.
_INDEX_PASSWORD = r"UV_INDEX_[A-Z0-9_]+_PASSWORD"
# Settings of the image or the runner that would change what lands in the target, so that the
# same dependency file would not give the same files on every runner: bytecode, the interpreter
# or environment uv installs for, which versions it picks (resolution and prerelease strategy,
# an upload cut-off, constraints and overrides from files the dependency file does not name,
# PyTorch's backend detected from the runner's GPU), where it works from. The command line says
# what is wanted instead; uv's defaults apply to the rest.
DROPPED = (
    "UV_COMPILE_BYTECODE", "UV_PROJECT_ENVIRONMENT", "UV_SYSTEM_PYTHON", "UV_PYTHON", "VIRTUAL_ENV",
    "UV_NO_BINARY", "UV_NO_BINARY_PACKAGE", "UV_RESOLUTION", "UV_PRERELEASE", "UV_EXCLUDE_NEWER",
    "UV_CONSTRAINT", "UV_OVERRIDE", "UV_TORCH_BACKEND", "UV_WORKING_DIR", "UV_PROJECT",
)
# Set whatever the environment says: files copied out of uv's cache, never symlinks into it (the
# packager refuses links that leave the tree) nor hard links that share the cache's inodes.
FORCED = {"UV_LINK_MODE": "copy", "NO_COLOR": "1", "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"}
_USERINFO = r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#\s]+)@"  # up to the last @ of the authority, as URL parsers read it
# A credential passed in a URL's query (`/simple?token=…`, a signed URL's `sig=` or `X-Amz-Signature=`).
_QUERY_SECRET = r"(?i)[?&][A-Za-z0-9_.-]*(?:token|key|password|passwd|secret|auth|sig|signature|credential)[A-Za-z0-9_.-]*=([^&#\s'\"]+)"
_ENV_REFERENCE = r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"
_TRUE = frozenset({"1", "true", "yes", "on"})
DEPENDENCY_FILE_LIMIT = 4 << 20  # read for the secrets in it: a requirements file is a few KB
CANCEL_POLL_S = 0.1  # how long uv runs on, at most, after the job is cancelled


# The step's inputs and the runner's own tokens: nothing an installer needs to see.
_NOT_FOR_THE_INSTALLER = ("INPUT_", "ACTIONS_", "GITHUB_TOKEN")


def installer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment uv runs with: the runner's (proxies, certificates, uv's settings), pip's
    index settings translated where uv's are absent, a copy install (FORCED), and nothing that
    would change the installed files (DROPPED) or that uv has no use for (the inputs, the
    runner's tokens)."""
    env = {k: v for k, v in environ.items() if k not in DROPPED and not k.startswith(_NOT_FOR_THE_INSTALLER)}
    for pip_name, uv_names, uv_name in PIP_TO_UV:
        value = environ.get(pip_name, "").strip()
        if not value or any(environ.get(name) for name in uv_names):
            continue
        if pip_name == "PIP_FIND_LINKS":
            value = ",".join(value.split())  # pip: whitespace-separated; uv: comma-separated
        elif pip_name == "PIP_NO_INDEX":
            if value.lower() not in _TRUE:
                continue
            value = "1"
        env[uv_name] = value
    env.update(FORCED)
    return env


def secrets(environ: Mapping[str, str], files: Iterable[Path] = ()) -> list[str]:
    """Passwords and tokens the installer may see: in the index URLs of the settings and of the
    dependency files (`--index-url https://user:token@…`, `pkg @ https://token@…`, a query's
    `?token=…`), the
    UV_INDEX_*_PASSWORD values, and the variables a dependency file expands (`${TOKEN}`)."""
    found: list[str] = []
    for name in URL_SETTINGS:
        found.extend(_userinfo_secrets(environ.get(name, "")))
        found.extend(_query_secrets(environ.get(name, "")))
    found.extend(v for k, v in environ.items() if re.fullmatch(_INDEX_PASSWORD, k) and v)
    for path in files:
        try:
            text = userfiles.read_text(path, DEPENDENCY_FILE_LIMIT)
        except userfiles.UserFileError:
            continue  # uv reports what is wrong with it
        found.extend(_userinfo_secrets(text))
        found.extend(_query_secrets(text))
        found.extend(environ[name] for name in re.findall(_ENV_REFERENCE, text) if environ.get(name))
    return [s for s in dict.fromkeys(found) if s]


def _userinfo_secrets(text: str) -> list[str]:
    """The password of each `scheme://user:password@` in `text` (also percent-decoded), or the
    user part when the password is absent or empty (a token passed as the user name:
    `https://TOKEN@host`, `https://TOKEN:@host`)."""
    found = []
    for userinfo in re.findall(_USERINFO, text):
        user, _, password = userinfo.partition(":")
        secret = password or user
        if not secret or "${" in secret:  # a variable's name, not its value (added by `secrets`)
            continue
        found.append(secret)
        decoded = urllib.parse.unquote(secret)
        if decoded != secret:
            found.append(decoded)
    return found


def _query_secrets(text: str) -> list[str]:
    """The values of the query parameters of URLs in `text` whose names say they hold a
    credential (`token`, `key`, `password`, `secret`, `auth`, `sig`...), also percent-decoded."""
    found = []
    for value in re.findall(_QUERY_SECRET, text):
        if "${" in value:  # a variable's name, not its value (added by `secrets`)
            continue
        found.append(value)
        decoded = urllib.parse.unquote(value)
        if decoded != value:
            found.append(decoded)
    return found


def redact(text: str, hidden: Iterable[str]) -> str:
    """`text` with each secret, any URL's password and any credential in a URL's query replaced by ***."""
    for secret in sorted(set(hidden), key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    text = re.sub(_QUERY_SECRET, lambda m: m.group(0).replace(m.group(1), "***"), text)
    return re.sub(_USERINFO, _redact_userinfo, text)


def _redact_userinfo(match: re.Match) -> str:
    user, _, password = match.group(1).partition(":")
    shown = f"{user}:***" if password else "***"  # without a password, the user part is the token
    return match.group(0).replace(match.group(1), shown)


# -- what a requirements file asks for, read before any index is asked ------------------------

_INCLUDE = r"(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=^-[rc]))(\S+)$"
_EDITABLE = r"(-e|--editable)(?:\s*=\s*|\s+|(?<=^-e))\S"
_VCS = r"(?:git|hg|svn|bzr)\+"
_LOCATION = r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*@\s*)?(\S+)"
_WHEEL = r".*\.whl"


def requirement_files(file: Path, workspace: Path) -> tuple[list[Path], list[str]]:
    """The requirements file and every file it includes (`-r`, `-c`, recursively), and what in
    them can never install as wheels from inside the workspace: an editable install, a VCS
    requirement, a URL or local path that is not a wheel (each would be built from source), a
    path or an included file outside the workspace, an included file that is missing, not a
    regular file (a FIFO would block the installer), not UTF-8 or too large. Read without any
    network call; the problems name the file and line."""
    files: list[Path] = []
    problems: list[str] = []
    pending = [(file, "")]
    while pending:
        path, where = pending.pop(0)
        if path in files:
            continue
        name = _shown(path, workspace)
        try:
            text = userfiles.read_text(path, DEPENDENCY_FILE_LIMIT)
        except userfiles.UserFileError as exc:
            problems.append(f"{where}{name} {exc}")
            continue
        files.append(path)
        for number, line in _logical_lines(text):
            at = f"{name} line {number}: "
            include = re.match(_INCLUDE, line)
            if include:
                if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", include.group(2)):
                    continue  # an included URL: uv fetches it, and reports what is wrong
                target = (path.parent / include.group(2)).resolve()
                if not _within(target, workspace):
                    problems.append(f"{at}{include.group(2)!r} resolves outside the workspace ({target}); refused")
                else:
                    pending.append((target, at))
                continue
            if re.match(_EDITABLE, line):
                problems.append(f"{at}{line!r} is an editable install, built from source: only wheels are installed")
                continue
            if line.startswith("-"):
                continue  # --index-url, --hash, --only-binary...: options uv applies
            problem = _location_problem(line, path.parent, workspace)
            if problem:
                problems.append(f"{at}{problem}")
    return files, problems


def lock_problems(pyproject: Path) -> list[str]:
    """Why the uv.lock beside `pyproject` does not lock this project's dependencies (`uv export
    --frozen` would install it as it is): it has no package of the project's name, or its record
    of the project's requirements names other distributions than [project] does (one added or
    removed since `uv lock`). Names only: a changed version bound is for `uv lock --check`."""
    import tomllib

    try:
        project = tomllib.loads(userfiles.read_text(pyproject, DEPENDENCY_FILE_LIMIT)).get("project")
        lock = tomllib.loads(userfiles.read_text(pyproject.parent / "uv.lock", DEPENDENCY_FILE_LIMIT))
    except (userfiles.UserFileError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [f"pyproject.toml or uv.lock cannot be read: {exc}"]
    if not isinstance(project, dict) or not isinstance(project.get("name"), str) or "dependencies" in project.get("dynamic", ()):
        return []  # a workspace root or dynamic dependencies: uv says what it makes of them
    name = _normalised(project["name"])
    packages = [p for p in lock.get("package", []) if isinstance(p, dict) and _normalised(str(p.get("name", ""))) == name]
    if not packages:
        return [f"uv.lock has no package {project['name']!r}: it locks another project; run `uv lock` and commit it"]
    wanted = list(project.get("dependencies") or [])
    for extra in (project.get("optional-dependencies") or {}).values():
        wanted.extend(extra)
    declared = {_normalised(re.match(r"\s*([A-Za-z0-9._-]+)", str(r)).group(1)) for r in wanted if re.match(r"\s*[A-Za-z0-9]", str(r))}
    locked = {_normalised(str(r.get("name", ""))) for r in packages[0].get("metadata", {}).get("requires-dist", [])}
    added, removed = sorted(declared - locked), sorted(locked - declared)
    if not (added or removed):
        return []
    differences = [f"{', '.join(added)} not locked" if added else "", f"{', '.join(removed)} locked but no longer required" if removed else ""]
    return [f"uv.lock is out of date with pyproject.toml ({'; '.join(d for d in differences if d)}): run `uv lock` and commit it"]


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, text) of each requirement or option, continuations joined, comments gone."""
    number, pieces = 0, []
    for index, raw in enumerate(text.splitlines(), 1):
        number = number or index
        line = re.sub(r"(^|\s)#.*", "", raw).rstrip()
        if line.endswith("\\"):
            pieces.append(line[:-1])
            continue
        joined = " ".join(pieces + [line]).strip()
        if joined:
            yield number, joined
        number, pieces = 0, []


def _location_problem(line: str, base: Path, workspace: Path) -> str:
    """Why a requirement's URL or local path cannot install as a wheel ("" when it can, or when
    it names a distribution by name and version, for the index to answer)."""
    requirement = line.split(";", 1)[0].split(" --", 1)[0].strip()
    location = re.match(_LOCATION, requirement).group(1)
    named = "@" in requirement
    if re.match(_VCS, location):
        return f"{location!r} is a VCS requirement, built from source: only wheels are installed; use a wheel's URL or an index"
    if re.match(r"https?://", location):
        if not re.fullmatch(_WHEEL, urllib.parse.urlsplit(location).path):
            return f"{location!r} is not a wheel (.whl); it would be built from source: only wheels are installed"
        return ""
    if location.startswith("file:"):
        location = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    elif not named and not re.match(r"(\.|/|~)|.*[/\\]|.*\.(whl|zip|tar\.gz|tgz)$", location):
        return ""  # a name, with a version specifier, extras or a marker
    path = (base / os.path.expanduser(location)).resolve()
    if not _within(path, workspace):
        return f"{location!r} resolves outside the workspace ({path}); refused"
    if path.is_dir() or not re.fullmatch(_WHEEL, path.name):
        return f"{location!r} is a local project or source distribution, built from source: only wheels are installed"
    if not path.is_file():
        return f"{location!r} does not exist"
    return ""


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _shown(path: Path, workspace: Path) -> str:
    try:
        return path.relative_to(workspace).as_posix()
    except ValueError:
        return str(path)


# -- installing -------------------------------------------------------------------------------


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
    size = sum(_tree_sizes(root).values())
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


# -- making the tree reproducible -------------------------------------------------------------

# PEP 376 / PEP 610 files that describe the installation rather than the distribution: which
# installer, whether it was requested by name, the URL it came from (which may hold a token).
INSTALLER_FILES = ("INSTALLER", "REQUESTED", "direct_url.json")


def normalise(target: Path) -> tuple[Distribution, ...]:
    """Make `target` the same whatever the runner and the run: drop uv's lock file, console
    scripts (`bin/`, whose first line names this runner's interpreter; useless in a function),
    the installer files and every `__pycache__`; rewrite each RECORD (sorted) to list only the
    files that stay. Return the distributions found, by name."""
    (target / ".lock").unlink(missing_ok=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        if cache.is_dir():
            shutil.rmtree(cache)
    records = {}
    for info in sorted(target.glob("*.dist-info")):
        for name in INSTALLER_FILES:
            (info / name).unlink(missing_ok=True)
        records[info] = _rewrite_record(info, target)
    sizes = _tree_sizes(target)
    distributions = []
    for info, files in records.items():
        metadata = _metadata(info)
        stem = info.name[: -len(".dist-info")]
        name = metadata.get("Name") or stem.rsplit("-", 1)[0]
        version = metadata.get("Version") or stem.rsplit("-", 1)[-1]
        distributions.append(Distribution(name, version, sum(sizes.pop(f, 0) for f in files)))
    return tuple(sorted(distributions, key=lambda d: d.name.lower()))


def _rewrite_record(info: Path, target: Path) -> set[str]:
    """Keep the RECORD rows of files still in `target`, sorted; return their paths."""
    import csv

    record = info / "RECORD"
    own = f"{info.name}/RECORD"
    rows: dict[str, list[str]] = {}
    if record.is_file():
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
            if row and row[0] != own and _relative(row[0]) and (target / row[0]).is_file():
                rows[row[0]] = row
    rows[own] = [own, "", ""]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows[path] for path in sorted(rows))
    replacement = info / "RECORD.faas-tmp"
    replacement.write_text(text.getvalue(), encoding="utf-8")
    os.replace(replacement, record)  # never written in place: the old file may be a link into uv's cache
    return set(rows)


def _relative(path: str) -> bool:
    """A RECORD path inside the target (an installer may record files outside it as ../…)."""
    return not path.startswith(("/", "../")) and "/../" not in path


def _metadata(info: Path) -> dict[str, str]:
    import email.parser

    try:
        text = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    message = email.parser.HeaderParser().parsestr(text)
    return {key: str(message.get(key, "")).strip() for key in ("Name", "Version")}


def _tree_sizes(root: Path) -> dict[str, int]:
    """Every file under `root` by its POSIX path relative to `root`, and its size."""
    sizes = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            sizes[os.path.relpath(path, root).replace(os.sep, "/")] = os.path.getsize(path)
    return sizes


def own_cache(cache: Path, workspace: Path) -> None:
    """Give a cache kept in the workspace to the workspace's owner: the container runs as root,
    and root-owned files there break later steps (actions/checkout's clean, actions/cache)."""
    try:
        owner = workspace.stat()
    except OSError:
        return
    if os.geteuid() != 0 or owner.st_uid == 0 or not cache.exists():
        return
    paths = [str(cache)]
    for directory, dirs, names in os.walk(cache):
        paths.extend(os.path.join(directory, name) for name in dirs + names)
    for path in paths:
        try:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
        except OSError:
            pass
