"""A Python function's dependencies, installed for the platform it runs on, the same on every run.

Owns, through its modules:
- target.py: which wheels (the Python version from `runtime`; the manylinux platform from the
  architecture and the glibc of the platform's runtime images);
- requirements.py: what a requirements file (and its includes) or a uv.lock asks for, checked
  before any index is asked;
- index.py: the index settings the installer honours (uv's UV_* ones, and pip's PIP_* ones
  translated when no UV_* one is set) and the passwords and tokens in them;
- installer.py: uv (the exact version locked with the action, found with `uv.find_uv_bin()`;
  wheels only, no bytecode), within the deadline, stopped at once on a cancel;
- reproducible.py: the installed tree made the same on every run (no `__pycache__`, no
  installer metadata that varies between runs, RECORD listing only what ships).
Must not: read os.environ (the environment is an argument), print or emit workflow commands
(it returns data and raises PackagingError, or Cancelled once the job's cancel event is set;
main.py logs), build the zip (the package module does), or know any cloud API.
csv, email.parser, signal and subprocess are imported where an install needs them: config/ and
render.py import this package on every run, most of which install nothing (~7 ms saved).
"""

from .index import DROPPED, FORCED, installer_environment, redact, secrets
from .installer import Installed, described, excluded_from, install, uv_binary
from .reproducible import INSTALLER_FILES, normalise, own_cache
from .requirements import lock_problems, requirement_files
from .target import default_platform, describe_target, parse_platform, platform_problems, platform_tag, python_version

__all__ = [
    "DROPPED", "FORCED", "INSTALLER_FILES", "Installed", "default_platform", "describe_target", "described",
    "excluded_from", "install", "installer_environment", "lock_problems", "normalise", "own_cache", "parse_platform",
    "platform_problems", "platform_tag", "python_version", "redact", "requirement_files", "secrets", "uv_binary",
]
