"""Which files go into a package, and under which names.

Owns: the ignore rules (`.faasignore`, else the provider's ignore file, else the provider's
defaults, all in gitignore syntax, with gcloud's `#!include:`; and the always-excluded credentials
and VCS folders, which no `!` line brings back), the walk in archive order (each directory's
children sorted, normalised modes), names that would unpack outside their folder on Windows, the
symlink rules (a link may point anywhere inside the source; one that leaves it, dangles or
loops is refused, and so is an ignore file that resolves outside the source), ignore lines that
are not gitignore patterns (refused, naming the file and line), names that are not UTF-8
(refused: a zip entry name is UTF-8), and merging a directory of installed dependencies
into the archive's root.
Must not: read the files' contents (ignore files aside) or know the zip format.
"""

from __future__ import annotations

import errno
import heapq
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Protocol

import pathspec

from ..errors import InputError, Problem

ALWAYS_EXCLUDED = (".git/", ".github/", "gha-creds-*.json", ".faasignore")
OWN_IGNORE_FILE = ".faasignore"
EXECUTABLE_NAMES = frozenset({"bootstrap"})
INCLUDE = "#!include:"
_DRIVE = re.compile(r"^[A-Za-z]:")


class Entry(NamedTuple):
    """One file to store: its name in the archive, where to read it (`fspath`, a string: a Path
    per file costs more than listing the file), its normalised mode and its size when listed."""

    name: str
    fspath: str
    mode: int
    size: int


def shown(path: str | os.PathLike) -> str:
    """A path as it can be printed: bytes that are not UTF-8 (kept by the file system API as
    lone surrogates) written as \\xNN escapes."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file system name produces
        return os.fspath(path).encode("utf-8", "backslashreplace").decode("utf-8")


def quoted(name: str) -> str:
    """A name in quotes as a message shows it: printable characters as they are, a byte that is
    not UTF-8 as \\xNN, anything else (a newline, a control character) as Python escapes it."""
    shown_chars = []
    for char in name:
        if "\udc80" <= char <= "\udcff":  # how os.fsdecode keeps a byte that is not UTF-8
            shown_chars.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char.isprintable() and char != "'":
            shown_chars.append(char)
        else:
            shown_chars.append(repr(char)[1:-1] if char != "'" else "\\'")
    return "'" + "".join(shown_chars) + "'"


# -- ignore rules -----------------------------------------------------------------------------


class Spec(Protocol):
    """What the walk asks of the ignore rules: is this archive name (a directory's with a
    trailing "/") left out?"""

    def match_file(self, file: str) -> bool: ...


class Excluded(NamedTuple):
    """The user's ignore rules, and the lines that no ignore file can undo (`forced`: the
    always-excluded paths, `exclude`). Two specs, not one: in gitignore a `!dir/**` line wins over
    a later `dir/` line (a pattern matching the file itself outranks one matching its folder),
    so no order of lines in one spec keeps `forced` out of reach of a `!`."""

    user: pathspec.GitIgnoreSpec
    forced: pathspec.GitIgnoreSpec

    def match_file(self, file: str) -> bool:
        return self.forced.match_file(file) or self.user.match_file(file)


@dataclass(frozen=True)
class IgnoreRules:
    """The exclusion rules of a source, the ignore file they were read from (None: the
    provider's defaults only) and what was wrong with the ignore files."""

    spec: Excluded
    file: str | None
    problems: tuple[Problem, ...] = ()


def ignore_rules(
    source: Path, provider_ignore_file: str | None, default_ignores: Iterable[str] = (), exclude: Iterable[str] = ()
) -> IgnoreRules:
    """`.faasignore`, else the provider's ignore file, else the provider's defaults (gcloud's,
    for example); and, beyond the reach of any `!` line of those (see Excluded), the always-excluded
    paths and `exclude` (`*` then `!*.json` must not package a `gha-creds-*.json`).
    An ignore file, or a file it includes, that resolves outside the source is a problem and is not read."""
    root = os.path.realpath(source)
    problems: list[Problem] = []
    lines: list[str] = []
    used = None
    for name in (OWN_IGNORE_FILE, provider_ignore_file):
        if not name or not (os.path.islink(source / name) or os.path.isfile(source / name)):
            continue
        used = name
        lines.extend(_expand(source, root, _read_ignore_file(source, root, name, problems) or (), problems))
        break
    else:
        lines.extend(_expand(source, root, default_ignores, problems))
    forced = pathspec.GitIgnoreSpec.from_lines([*ALWAYS_EXCLUDED, *exclude])
    return IgnoreRules(Excluded(pathspec.GitIgnoreSpec.from_lines(lines), forced), used, tuple(problems))


def ignore_spec(
    source: Path, provider_ignore_file: str | None, default_ignores: Iterable[str] = (), exclude: Iterable[str] = ()
) -> Spec:
    """The exclusion rules alone (see `ignore_rules`); a problem with an ignore file is an InputError."""
    rules = ignore_rules(source, provider_ignore_file, default_ignores, exclude)
    if rules.problems:
        raise InputError(rules.problems)
    return rules.spec


def _expand(source: Path, root: str, lines: Iterable[str], problems: list[Problem]) -> list[str]:
    """Ignore lines with gcloud's `#!include:<file>` replaced by that file's lines (one level;
    a missing file includes nothing)."""
    out = []
    for line in lines:
        if line.startswith(INCLUDE):
            out.extend(_read_ignore_file(source, root, line[len(INCLUDE):].strip(), problems) or ())
        else:
            out.append(line)
    return out


def _read_ignore_file(source: Path, root: str, name: str, problems: list[Problem]) -> list[str] | None:
    """An ignore file's lines, if it is a regular file inside the source. One reached through a
    symlink (or `..`) that leaves the source is refused like any escaping symlink: its target
    is not read. Missing, a directory or a FIFO: nothing to read. A file that cannot be read, and
    each line that is not a valid gitignore pattern, is a problem (the line is left out)."""
    path = source / name
    if not name or not os.path.lexists(path):
        return None
    real = os.path.realpath(path)
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        problems.append(Problem("source", f"ignore file {quoted(name)} resolves outside the source directory ({shown(real)}); refused"))
        return None
    if not os.path.exists(real):
        problems.append(Problem("source", f"ignore file {quoted(name)} is a symlink to a missing file; refused"))
        return None
    if not os.path.isfile(real):
        return None
    try:
        with open(real, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        problems.append(Problem("source", f"ignore file {quoted(name)} could not be read: {shown(exc.strerror or str(exc))}"))
        return None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, re.error) as exc:  # pathspec's GitIgnorePatternError is a ValueError
            problems.append(Problem("source", f"ignore file {quoted(name)}, line {number}: {quoted(line)} is not a valid gitignore pattern ({exc}); fix or remove it"))
            continue
        lines.append(line)
    return lines


NOTHING_IGNORED = pathspec.GitIgnoreSpec.from_lines([])


# -- the walk ---------------------------------------------------------------------------------


def collect(source: Path, spec: Spec) -> list[Entry]:
    """Every file to package, sorted by archive name. Symlinks leaving `source`, dangling or
    looping, and names that are not UTF-8, are an InputError listing all of them."""
    problems: list[Problem] = []
    entries = list(walk(source, spec, problems))
    if problems:
        raise InputError(problems)
    return entries


def walk(source: Path, spec: Spec, problems: list[Problem]) -> Iterator[Entry]:
    """`collect`'s entries, yielded as the tree is listed, in the same (sorted) order. A problem
    is appended to `problems` and the walk goes on: the caller must check `problems` once the
    walk is over and raise InputError before using what it built from the entries.

    Depth first, each directory's children sorted by name + "/" for a directory and by name for
    a file: that is the order of the full names, since a directory's names all start with its
    name + "/" (so `a.txt` comes before `a/b`, as "." sorts before "/")."""
    root = os.path.realpath(source)
    pending: list[Iterator[Entry | _Directory]] = [iter(_listing(_Directory(root, "", root, frozenset({root})), root, spec, problems))]
    while pending:
        for item in pending[-1]:
            if isinstance(item, Entry):
                yield item
            else:  # descend; the parent's iterator resumes after it
                pending.append(iter(_listing(item, root, spec, problems)))
                break
        else:
            pending.pop()


class _Directory(NamedTuple):
    """A directory to list: where it is, its names' prefix in the archive, its real path and
    the real paths above it (a symlink back to one of them is a loop)."""

    fspath: str
    prefix: str
    real: str
    ancestors: frozenset[str]


def _listing(directory: _Directory, root: str, spec: Spec, problems: list[Problem]) -> list[Entry | _Directory]:
    """A directory's files and subdirectories that are packaged, in archive order: sorted by
    name + "/" for a directory (a symlink to one included) and by name for a file."""
    out: list[Entry | _Directory] = []
    inside = root.rstrip("/") + "/"
    with os.scandir(directory.fspath) as listing:
        children = sorted((child.name + "/" if _is_dir(child) else child.name, child) for child in listing)
    match = spec.match_file
    for key, child in children:
        is_dir = key[-1] == "/"
        name = directory.prefix + child.name
        if match(directory.prefix + key):
            continue
        if not _is_utf8(child.name):
            problems.append(Problem("source", f"{quoted(name)}: the name is not valid UTF-8, which a zip entry needs; rename it, or leave it out with the ignore file"))
            continue
        if ("\\" in child.name or ":" in child.name) and (why := unsafe_name(name)):  # only these can climb out
            problems.append(Problem("source", f"{quoted(name)}: the name {why} on Windows (where `\\` separates folders); rename it, or leave it out with the ignore file"))
            continue
        if child.is_symlink():
            real = os.path.realpath(child.path)
            if not os.path.exists(real):
                why = "loops (a chain of symlinks that comes back to itself)" if _loops(child.path) else "points to a missing file"
                problems.append(Problem("source", f"symlink {quoted(name)} {why}; refused"))
                continue
            if real != root and not real.startswith(inside):
                problems.append(Problem("source", f"symlink {quoted(name)} leaves the source directory ({shown(real)}); refused"))
                continue
        else:
            real = directory.real.rstrip("/") + "/" + child.name  # no symlink on the way: no syscall
        if is_dir:
            if real in directory.ancestors:
                problems.append(Problem("source", f"symlink {quoted(name)} loops back to a parent directory; refused"))
                continue
            out.append(_Directory(child.path, name + "/", real, directory.ancestors | {real}))
            continue
        info = child.stat(follow_symlinks=True)
        if not stat.S_ISREG(info.st_mode):
            continue  # sockets, fifos: nothing a function can use
        executable = bool(info.st_mode & 0o111) or child.name in EXECUTABLE_NAMES
        out.append(Entry(name, child.path, 0o755 if executable else 0o644, info.st_size))
    return out


def unsafe_name(name: str) -> str | None:
    """Why an archive name would be unpacked outside its folder (zip slip), or None. Backslashes
    count as separators: unzip tools on Windows treat them so."""
    if "\x00" in name:
        return "holds a NUL character"
    posix = name.replace("\\", "/")
    if posix.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(posix):
        return "starts with a drive letter"
    if ".." in posix.split("/"):
        return "climbs out of the folder it is unpacked into (`..`)"
    return None


def _is_dir(child: os.DirEntry) -> bool:
    """Whether `child` is a directory or a symlink to one; a symlink loop (ELOOP) is neither,
    and is refused as a symlink."""
    try:
        return child.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _loops(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _is_utf8(name: str) -> bool:
    """os.scandir keeps the bytes of a name that is not UTF-8 as lone surrogates."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- dependencies merged into the root ---------------------------------------------------------


def merged(source: Iterator[Entry], dependencies: Iterator[Entry], problems: list[Problem]) -> Iterator[Entry]:
    """Two walks in archive order, merged into one (both are sorted by full name). A file that
    both hold is a problem: the source would silently shadow an installed file, or the reverse."""
    previous = None
    for entry in heapq.merge(source, dependencies, key=_entry_key):
        if previous is not None and entry.name == previous:
            problems.append(Problem("dependencies", f"{quoted(entry.name)} is both in the source and among the installed dependencies"))
            continue
        previous = entry.name
        yield entry


def _entry_key(entry: Entry) -> str:
    return entry.name
