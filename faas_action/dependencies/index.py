"""The index settings the installer honours and the secrets in them.

Owns: the environment uv runs with (uv's UV_* settings, pip's PIP_* ones translated when no UV_*
one is set, the settings dropped because they would change what lands in the package, the ones
forced), the passwords and tokens in index URLs and dependency files (registered for masking),
and redacting them from what uv prints.
Must not: run the installer, print, or read os.environ (the environment is an argument).
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Iterable, Mapping

from .. import userfiles
from .requirements import DEPENDENCY_FILE_LIMIT

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
    secrets_found = []
    for userinfo in re.findall(_USERINFO, text):
        user, _, password = userinfo.partition(":")
        secrets_found.append(password or user)
    return _as_masked(secrets_found)


def _query_secrets(text: str) -> list[str]:
    """The values of the query parameters of URLs in `text` whose names say they hold a
    credential (`token`, `key`, `password`, `secret`, `auth`, `sig`...), also percent-decoded."""
    return _as_masked(re.findall(_QUERY_SECRET, text))


def _as_masked(values: list[str]) -> list[str]:
    """Each value and its percent-decoded form; not an empty one, nor a `${VAR}` reference (a
    variable's name, not its value: `secrets` adds the value)."""
    found = []
    for value in values:
        if not value or "${" in value:
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


