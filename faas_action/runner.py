"""The GitHub runner contract, and the only module that knows it.

Owns: reading `INPUT_*`, writing `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`, workflow commands
(masks, annotations, groups, debug) and the OIDC token request. Formatting and the OIDC call
come from actions-toolkit; this module wraps it so nothing else depends on it.
Must not: know about clouds, packages or plans.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Mapping

from actions_toolkit.command import Command
from actions_toolkit.file_command import prepare_key_value_message

from .errors import CredentialsError
from .models import GitHubContext

TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})


def input_env_name(name: str) -> str:
    """`function-name` → `INPUT_FUNCTION-NAME`: spaces to underscores, upper-cased, hyphens kept."""
    return "INPUT_" + name.replace(" ", "_").upper()


class Runner:
    """Talks to the runner through an environment mapping and a text stream."""

    def __init__(self, environ: Mapping[str, str], stdout: IO[str]) -> None:
        self.environ = environ
        self.stdout = stdout
        self._masked: set[str] = set()
        # Functions deploy on threads: every write to the log and the file commands holds this
        # lock, and `lock` lets a caller print a whole block (a function's group) at once.
        self.lock = threading.RLock()

    # -- inputs -------------------------------------------------------------------------
    def input(self, name: str) -> str:
        """The trimmed input value; '' when unset (the runner exports every declared input)."""
        return self.environ.get(input_env_name(name), "").strip()

    def inputs(self, names: list[str] | tuple[str, ...]) -> dict[str, str]:
        return {name: self.input(name) for name in names}

    @property
    def workspace(self) -> Path:
        return Path(self.environ.get("GITHUB_WORKSPACE") or os.getcwd())

    @property
    def temp_dir(self) -> Path | None:
        value = self.environ.get("RUNNER_TEMP")
        return Path(value) if value else None

    @property
    def github(self) -> GitHubContext:
        env = self.environ
        return GitHubContext(
            sha=env.get("GITHUB_SHA", ""),
            ref=env.get("GITHUB_REF", ""),
            repository=env.get("GITHUB_REPOSITORY", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
        )

    @property
    def debug_enabled(self) -> bool:
        return self.environ.get("RUNNER_DEBUG") == "1"

    # -- workflow commands ----------------------------------------------------------------
    def command(self, name: str, message: str = "", **properties: str) -> None:
        props = {k: v for k, v in properties.items() if v not in (None, "")}
        with self.lock:
            self.stdout.write(str(Command(name, props, message)) + "\n")
            self.stdout.flush()

    def print(self, text: str = "") -> None:
        with self.lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def mask(self, secret: str) -> None:
        """`::add-mask::` a secret (and each of its lines) once, before anything prints it."""
        with self.lock:
            for value in dict.fromkeys([secret, *secret.splitlines()]):
                value = value.strip()
                if len(value) < 3 or value in self._masked:
                    # Masking one- or two-character values would shred the whole log.
                    continue
                self._masked.add(value)
                self.command("add-mask", value)

    def error(self, message: str, title: str = "") -> None:
        self.command("error", message, title=title)

    def warning(self, message: str, title: str = "") -> None:
        self.command("warning", message, title=title)

    def notice(self, message: str, title: str = "") -> None:
        self.command("notice", message, title=title)

    def debug(self, message: str) -> None:
        self.command("debug", message)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.command("group", title)
        try:
            yield
        finally:
            self.command("endgroup")

    # -- file commands --------------------------------------------------------------------
    def set_output(self, name: str, value: str) -> None:
        """Append `name` in the heredoc form with a random `ghadelimiter_<uuid>` delimiter."""
        path = self.environ.get("GITHUB_OUTPUT")
        if not path:
            self.print(f"output {name}={value}")
            return
        with self.lock, open(path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(prepare_key_value_message(name, value).replace(os.linesep, "\n") + "\n")

    def add_summary(self, markdown: str) -> None:
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        with self.lock, open(path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(markdown.rstrip("\n") + "\n")

    # -- OIDC -----------------------------------------------------------------------------
    def id_token(self, audience: str) -> str:
        """The job's OIDC token for `audience`, masked before it can be printed."""
        if not (
            self.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
            and self.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        ):
            raise CredentialsError(
                "no GitHub OIDC token available",
                hint="give the job `permissions: id-token: write`",
            )
        from actions_toolkit.oidc_utils import OidcClient  # imports requests: only when needed

        saved = {k: os.environ.get(k) for k in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")}
        try:
            for key in saved:
                os.environ[key] = self.environ[key]
            token = OidcClient.get_id_token(audience)
        except Exception as exc:  # the toolkit raises bare Exception
            raise CredentialsError(f"could not get the GitHub OIDC token: {exc}") from exc
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.mask(token)
        return token


class RunnerLog:
    """The providers' Log, written as plain lines and runner groups."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def info(self, message: str) -> None:
        self.runner.print(message)

    def warning(self, message: str) -> None:
        self.runner.warning(message)

    def debug(self, message: str) -> None:
        self.runner.debug(message)

    def mask(self, secret: str) -> None:
        self.runner.mask(secret)

    def group(self, title: str):
        return self.runner.group(title)


class FunctionLog:
    """A function's Log while several functions deploy side by side.

    Its lines are kept and printed together, in one group, when the function finishes
    (`print_group`), so that groups never interleave; meanwhile each line also shows as a short
    live progress line prefixed with the function's name. Masks go to the runner at once."""

    LIVE_WIDTH = 120

    def __init__(self, runner: Runner, name: str) -> None:
        self.runner = runner
        self.name = name
        self.lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _keep(self, kind: str, message: str) -> None:
        with self._lock:
            self.lines.append((kind, message))

    def _live(self, message: str) -> None:
        first = (message.splitlines() or [""])[0]
        if len(first) > self.LIVE_WIDTH:
            first = first[: self.LIVE_WIDTH - 3] + "..."
        self.runner.print(f"[{self.name}] {first}")

    def info(self, message: str) -> None:
        self._keep("info", message)
        self._live(message)

    def warning(self, message: str) -> None:
        self._keep("warning", message)
        self._live(f"warning: {message}")

    def debug(self, message: str) -> None:
        self._keep("debug", message)

    def mask(self, secret: str) -> None:
        self.runner.mask(secret)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        # Groups do not nest on the runner: a provider's group becomes a heading in this one.
        self._keep("info", f"-- {title}")
        yield

    def print_group(self, title: str) -> None:
        """Print every kept line in one group, holding the runner's lock throughout."""
        with self.runner.lock, self._lock:
            with self.runner.group(title):
                for kind, message in self.lines:
                    if kind == "warning":
                        self.runner.warning(f"{self.name}: {message}")
                    elif kind == "debug":
                        self.runner.debug(message)
                    else:
                        self.runner.print(message)
