"""Files in a package that likely hold secrets, and the warning that names them.

Owns: which names usually carry credentials (`.env` files, private keys, package registry
tokens, cloud credentials) and the wording of the warning.
Must not: refuse anything (a warning, never an error: the user may mean it), print, or read
more than the first bytes of a `.pem` file (to tell a certificate bundle from a private key).
"""

from __future__ import annotations

from typing import Callable, Iterable

from .tree import quoted

EXACT = frozenset({".env", ".npmrc", ".pypirc", "credentials.json"})
SUFFIXES = (".pem", ".key")
SSH_KEYS = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
ENV_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.template"})  # committed on purpose, no values
PEM_READ_LIMIT = 4 << 20
LISTED = 10


def likely_secret(name: str) -> bool:
    """Judged from the archive name alone (see `only_certificates` for `.pem` files)."""
    directories, _, base = name.rpartition("/")
    if base in EXACT or base.endswith(SUFFIXES):
        return True
    if base.startswith(".env.") and base not in ENV_TEMPLATES:
        return True
    if base.startswith(SSH_KEYS):  # `.pub` too: where the public half is, the private one often is
        return True
    return ".aws" in directories.split("/")


def only_certificates(head: bytes) -> bool:
    """A `.pem` that holds certificates and no key (a CA bundle such as certifi's) is public."""
    return b"-----BEGIN CERTIFICATE-----" in head and b"PRIVATE KEY" not in head


def find(names: Iterable[str], read: Callable[[str], bytes]) -> list[str]:
    """The names among `names` that likely hold secrets; `read(name)` gives a `.pem` file's
    first PEM_READ_LIMIT bytes."""
    found = []
    for name in names:
        if not likely_secret(name):
            continue
        if name.endswith(".pem") and only_certificates(read(name)):
            continue
        found.append(name)
    return found


def warning(names: list[str], remedy: str) -> str:
    """One warning naming the files (the first LISTED of them) and what to do."""
    listed = ", ".join(quoted(name) for name in names[:LISTED])
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return f"the package holds files that usually contain secrets: {listed}{more}. Anyone who can read the function's code can read them; {remedy}"
