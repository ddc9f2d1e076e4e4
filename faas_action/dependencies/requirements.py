"""What a requirements file (and what it includes) or a `uv.lock` asks for, read before any
index is asked.

Owns: following `-r`/`-c` includes inside the workspace, refusing what cannot be installed as a
wheel for another platform (editable installs, VCS lines, URLs or paths that are not wheels,
files outside the workspace), and telling a `uv.lock` that no longer matches its pyproject.toml.
Must not: reach the network or run the installer.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Iterable

from .. import userfiles

# -- what a requirements file asks for, read before any index is asked ------------------------

DEPENDENCY_FILE_LIMIT = 4 << 20  # a requirements file, a pyproject.toml or a uv.lock is a few KB

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
                if not target.is_relative_to(workspace):
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
    if not path.is_relative_to(workspace):
        return f"{location!r} resolves outside the workspace ({path}); refused"
    if path.is_dir() or not re.fullmatch(_WHEEL, path.name):
        return f"{location!r} is a local project or source distribution, built from source: only wheels are installed"
    if not path.is_file():
        return f"{location!r} does not exist"
    return ""


def _shown(path: Path, workspace: Path) -> str:
    try:
        return path.relative_to(workspace).as_posix()
    except ValueError:
        return str(path)


