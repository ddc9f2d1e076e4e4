"""Where code and files come from: `source`, `package`, `package-out`, `config` and paths that
must stay inside the workspace.

Owns: reading the YAML config file (bounded, UTF-8, regular files only) and which keys may stand
where in it; the code location of a function; the workspace boundary.
Must not: parse provider settings or package anything.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Mapping

from .. import userfiles
from ..errors import Problem
from .fields import Fields

# Keys only meaningful once per run, never in the config file.
RUN_KEYS = ("config", "dry-run")
# Run-level keys that may also stand at the top of the config file, but not per function.
FILE_RUN_KEYS = ("max-parallel", "fail-fast", "select")
# A config file larger than this is refused unread: real ones are a few kilobytes.
CONFIG_MAX_BYTES = 1024 * 1024


def code_location(f: Fields, workspace: Path, defaults: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    package_value = f.text("package")
    source_value = f.text("source") or "."
    if package_value:
        if source_value != defaults.get("source", "."):
            f.problem("package", "give `source` or `package`, not both")
            return None, None
        path = inside(f, "package", package_value, workspace)
        if path is None:
            return None, None
        if not path.is_file():
            f.problem("package", f"{package_value!r} does not exist or is not a file")
        elif not zipfile.is_zipfile(path):
            f.problem("package", f"{package_value!r} is not a zip archive")
        else:
            return None, path
        return None, None
    path = inside(f, "source", source_value, workspace)
    if path is None:
        return None, None
    if not path.is_dir():
        f.problem("source", f"{source_value!r} is not a directory in the workspace")
        return None, None
    return path, None


def inside(f: Fields, name: str, value: str, workspace: Path) -> Path | None:
    try:
        path = (workspace / value).resolve()
    except (ValueError, OSError) as exc:  # a NUL byte (from a YAML "\0"), a loop of symlinks
        f.problem(name, f"{value!r} is not a usable path ({exc})")
        return None
    if not path.is_relative_to(workspace):
        f.problem(name, f"{value!r} resolves outside the workspace ({path}); refused")
        return None
    return path


def read_config_file(
    value: str, workspace: Path, defaults: Mapping[str, str], problems: list[Problem]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[list[Problem]]]:
    """The keys at the top of the file, each function's own keys, and each function's own
    problems (a key that is unknown or misplaced in it); the file's other problems go to
    `problems`."""
    f = Fields({"config": value}, problems, "")
    path = inside(f, "config", value, workspace)
    if path is None:
        return {}, [{}], [[]]
    from .. import yamlsafe  # here, not at the top: a run without a config file never imports PyYAML

    try:
        data = yamlsafe.load(userfiles.read_text(path, CONFIG_MAX_BYTES))
    except userfiles.UserFileError as exc:
        problems.append(Problem("config", f"{value!r} {exc}"))
        return {}, [{}], [[]]
    except yamlsafe.YamlError as exc:
        problems.append(Problem("config", f"{value!r} is not readable YAML: {exc}"))
        return {}, [{}], [[]]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem("config", f"{value!r} must hold a mapping of inputs"))
        return {}, [{}], [[]]
    allowed = set(defaults) - set(RUN_KEYS)

    def clean(mapping: dict[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
        result = {}
        for key, item in mapping.items():
            key = str(key)
            if key in RUN_KEYS or (where and key in FILE_RUN_KEYS):
                problems.append(Problem("config", f"{where}{key!r} is set for the whole run (as a step input"
                                        + ("" if key in RUN_KEYS else " or at the top of the file") + "), not here"))
                continue
            if key not in allowed:
                problems.append(Problem("config", f"{where}unknown key {key!r}"))
                continue
            result[key] = _yaml_value(item)
        return result

    functions = data.pop("functions", None)
    common = clean(data, "", problems)
    if functions is None:
        return common, [{}], [[]]
    if not isinstance(functions, list) or not functions or not all(isinstance(i, dict) for i in functions):
        problems.append(Problem("config", "`functions` must be a non-empty list of mappings"))
        return common, [{}], [[]]
    own: list[list[Problem]] = [[] for _ in functions]
    return common, [clean(item, f"functions[{i}]: ", own[i]) for i, item in enumerate(functions)], own


def _yaml_value(item: Any) -> Any:
    """YAML scalars become the strings the runner would give; lists and mappings stay."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if item is None:
        return ""
    if isinstance(item, (dict, list)):
        return item
    return str(item)


def no_code(f: Fields, defaults: Mapping[str, str]) -> tuple[None, None]:
    """A container-image function: `source` and `package` have nothing to say."""
    if f.given("package"):
        f.problem("package", "give `image-uri` or `package`, not both")
    if (f.text("source") or ".") != defaults.get("source", "."):
        f.problem("source", "give `image-uri` or `source`, not both (an image function has nothing to package)")
    if f.given("package-out"):
        f.problem("package-out", "an image function builds no zip to write")
    return None, None


def package_out(f: Fields, workspace: Path, package: Path | None) -> Path | None:
    """Where to write a copy of the built zip: a file path inside the workspace."""
    value = f.text("package-out")
    if value is None or f.given("image-uri"):
        return None
    if package is not None or f.given("package"):
        f.problem("package-out", "writes the zip built from `source`; with `package` that zip is already a file")
        return None
    path = inside(f, "package-out", value, workspace)
    if path is None:
        return None
    if any(len(part.encode()) > 255 for part in path.relative_to(workspace).parts):
        f.problem("package-out", f"{value!r}: a name in it is longer than 255 bytes")
        return None
    if path == workspace or path.is_dir() or value.endswith(("/", "\\")):
        f.problem("package-out", f"{value!r} is a directory: name the zip file to write, e.g. dist/function.zip")
        return None
    folder = next((p for p in path.parents if p.exists()), workspace)
    if not folder.is_dir():
        f.problem("package-out", f"{value!r}: {folder.relative_to(workspace).as_posix()!r} is a file, not a folder")
        return None
    if path.exists() and not (path.is_file() and zipfile.is_zipfile(path)):
        f.problem("package-out", f"{value!r} exists and is not a zip: refusing to overwrite it with the package")
        return None
    return path
