"""The GitHub runner contract, and the only module that knows it.

Owns: reading `INPUT_*`, writing `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`, workflow commands
(masks, annotations, groups, debug), where temporary files go, and the OIDC token request.
The command and file-command formats are GitHub's toolkit's (`@actions/core` command.ts and
file-command.ts), written out here: the PyPI port pulls in PyGithub and PyNaCl for three helpers.
Everything the action writes goes through this module's few primitives, so two promises hold
for every caller, whatever the text's origin (an input, a service's error message, a traceback):
- no printed value can start a workflow command: annotation messages, properties and group
  titles are escaped by the command format (`%0A`...), and plain text that holds a line the
  runner would read as a command (`::name::...` after leading spaces, or the legacy `##[name]`
  anywhere) is printed between `::stop-commands::<random token>` and `::<token>::`;
- every value registered for masking (`mask()`, plus the runner's own credentials found in the
  environment) is replaced by `***`, in its plain, JSON-escaped, URL-encoded and base64 forms,
  in log lines, annotations, group titles and the step summary. Outputs are the action's own
  values (ARNs, URLs, versions) and are written as they are: an environment value that happens
  to be part of one (a stage name in a function name, a region) must not break it. Text of
  other origins that goes into an output (a failed function's error) is redacted by the caller
  with `redact()` first.
Must not: know about clouds, packages or plans.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping
from urllib.parse import quote, quote_plus

from .errors import CredentialsError
from .models import GitHubContext

TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})
# Credentials the runner (or an earlier step) already masks: redacted from our own output too,
# without another `::add-mask::`.
ENVIRONMENT_SECRETS = (
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN", "GITHUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_CLIENT_SECRET",
)
# Masking one- or two-character values would shred the whole log.
MIN_SECRET_LENGTH = 3
REDACTED = "***"
# GitHub drops a step summary over 1 MiB whole ("upload aborted"); ours is cut before that.
SUMMARY_MAX_BYTES = 1024 * 1024 - 16 * 1024
SUMMARY_CUT_NOTE = ("\n\n> The step summary was cut here: GitHub drops a summary over 1 MiB. "
                    "The log and the `results` output have the rest.\n")
# The OIDC token request: GitHub's toolkit retries it (10 times, on 502/503/504); this one also
# retries on a dropped connection, a stall and 429/500/408, each attempt with a timeout.
OIDC_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Redactor:
    """Replaces registered secrets, and their common encodings, by `***` in any text."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.lock = threading.Lock()

    def add(self, secret: str) -> None:
        forms = set()
        for value in {secret, *secret.splitlines()}:
            value = value.strip()
            if len(value) >= MIN_SECRET_LENGTH and value != REDACTED:
                forms.update(form for form in _encodings(value) if len(form) >= MIN_SECRET_LENGTH)
        with self.lock:
            if not forms <= self._forms:
                self._forms |= forms
                self._pattern = None

    def __call__(self, text: str) -> str:
        if not text or not self._forms:
            return text
        with self.lock:
            if self._pattern is None:  # longest first: a form that contains another wins
                self._pattern = re.compile("|".join(re.escape(f) for f in sorted(self._forms, key=len, reverse=True)))
            pattern = self._pattern
        return pattern.sub(REDACTED, text)

    def data(self, value: Any) -> Any:
        """`value` (parsed JSON) with every string in it redacted; numbers and booleans kept."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            return {self(key): self.data(item) for key, item in value.items()}
        return value


def _encodings(value: str) -> list[str]:
    raw = value.encode("utf-8")
    return [
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    ]




def _could_run_a_command(text: str) -> bool:
    """Whether the runner could read a workflow command in some line of `text` (it trims
    leading whitespace before `::`, and finds the legacy `##[` anywhere in a line)."""
    return any(line.lstrip().startswith("::") or "##[" in line for line in text.splitlines())


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command_line(name: str, properties: Mapping[str, str], message: str) -> str:
    """`::name key=value,key=value::message`, escaped as the toolkit escapes it."""
    props = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{_escape_data(str(message))}"


def key_value_message(key: str, value: str) -> str:
    """A `$GITHUB_OUTPUT` entry in the heredoc form, with a random delimiter that neither the
    key nor the value may contain."""
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in key or delimiter in value:
        raise ValueError(f"an output's name or value holds the delimiter {delimiter}")
    return f"{key}<<{delimiter}\n{value}\n{delimiter}"


def input_env_name(name: str) -> str:
    """`function-name` → `INPUT_FUNCTION-NAME`: spaces to underscores, upper-cased, hyphens kept."""
    return "INPUT_" + name.replace(" ", "_").upper()


class Runner:
    """Talks to the runner through an environment mapping and a text stream."""

    OIDC_ATTEMPTS = 5
    OIDC_TIMEOUT_S = 10.0  # connect, and then each read
    OIDC_BACKOFF_S = 1.0  # doubled after each attempt, up to OIDC_MAX_BACKOFF_S, with jitter
    OIDC_MAX_BACKOFF_S = 8.0

    def __init__(self, environ: Mapping[str, str], stdout: IO[str], sleep: Callable[[float], None] = time.sleep) -> None:
        self.environ = environ
        self.stdout = stdout
        self.sleep = sleep  # for the OIDC retries; main may pass its clock's (cancellable) sleep
        self.oidc_timeout_s = self.OIDC_TIMEOUT_S
        self._masked: set[str] = set()
        self._redact = Redactor()
        # Functions deploy on threads: every write to the log and the file commands holds this
        # lock (so a block wrapped in stop-commands is never split), and `lock` lets a caller
        # print a whole block (a function's group) at once.
        self.lock = threading.RLock()
        self._open_groups = 0
        for name in ENVIRONMENT_SECRETS:
            if environ.get(name):
                self._redact.add(environ[name])

    # -- inputs -------------------------------------------------------------------------
    def input(self, name: str) -> str:
        """The trimmed input value; '' when unset (the runner exports every declared input)."""
        return self.environ.get(input_env_name(name), "").strip()

    def inputs(self, names: list[str] | tuple[str, ...]) -> dict[str, str]:
        return {name: self.input(name) for name in names}

    @property
    def workspace(self) -> Path:
        return Path(self.environ.get("GITHUB_WORKSPACE") or os.getcwd())

    @cached_property
    def temp_dir(self) -> Path:
        """Where temporary files go: RUNNER_TEMP when this container can write there, else the
        container's own temporary directory. Runners before 2.331 pass the host's RUNNER_TEMP
        to a container action without mounting it: the path is missing here, or is not ours."""
        value = self.environ.get("RUNNER_TEMP")
        if value and _writable_directory(Path(value)):
            return Path(value)
        fallback = Path(tempfile.gettempdir())
        if value:
            self.debug(f"RUNNER_TEMP ({value}) is not a writable directory in this container; using {fallback}")
        return fallback

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
    def _write(self, text: str) -> None:
        with self.lock:
            self.stdout.write(text)
            self.stdout.flush()

    def command(self, name: str, message: str = "", **properties: str) -> None:
        """`::name props::message`, redacted; the format escapes line breaks in both."""
        props = {k: self._redact(str(v)) for k, v in properties.items() if v not in (None, "")}
        self._write(command_line(name, props, self._redact(str(message))) + "\n")

    def print(self, text: str = "") -> None:
        """Plain log text, redacted; inert for the runner when a line of it looks like a command."""
        text = self._redact(str(text))
        if _could_run_a_command(text):
            token = uuid.uuid4().hex
            while token in text:
                token = uuid.uuid4().hex
            text = f"::stop-commands::{token}\n{text}\n::{token}::"
        self._write(text + "\n")

    def mask(self, secret: str) -> None:
        """`::add-mask::` a secret (and each of its lines) once, before anything prints it;
        from now on it is also redacted from everything this runner writes."""
        self._redact.add(secret)
        with self.lock:
            for value in dict.fromkeys([secret, *secret.splitlines()]):
                value = value.strip()
                if len(value) < MIN_SECRET_LENGTH or value in self._masked:
                    continue
                self._masked.add(value)
                self._write(command_line("add-mask", {}, value) + "\n")  # the one unredacted write

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
        with self.lock:
            self.command("group", title)
            self._open_groups += 1
        try:
            yield
        finally:
            with self.lock:
                if self._open_groups:  # not already closed by end_open_groups
                    self._open_groups -= 1
                    self.command("endgroup")

    def end_open_groups(self) -> None:
        """Close the groups still open: those of a function the run stopped waiting for (after a
        cancellation), whose thread would close them only when its request answers. What the
        run prints next (errors, the outcome) must not land folded inside them."""
        with self.lock:
            while self._open_groups:
                self._open_groups -= 1
                self.command("endgroup")

    # -- file commands --------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """`text` with every registered secret (and its encodings) replaced by `***`."""
        return self._redact(text)

    def set_output(self, name: str, value: str) -> None:
        """Append `name` in the heredoc form with a random `ghadelimiter_<uuid>` delimiter
        (not redacted: see the module's docstring)."""
        path = self.environ.get("GITHUB_OUTPUT")
        if not path:
            self.print(f"output {name}={value}")
            return
        with self.lock, open(path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(key_value_message(name, value) + "\n")

    def add_summary(self, markdown: str) -> None:
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        text = self._redact(markdown).rstrip("\n") + "\n"
        with self.lock, open(path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(_cut(text, SUMMARY_MAX_BYTES - handle.tell()))

    # -- OIDC -----------------------------------------------------------------------------
    def id_token(self, audience: str) -> str:
        """The job's OIDC token for `audience`, masked before it can be printed. Each attempt
        has a timeout; a dropped connection, a stall, 408, 429 or 5xx is retried with backoff
        (OIDC_ATTEMPTS in all); anything else fails at once."""
        url = self.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        request_token = self.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not (url and request_token):
            raise CredentialsError(
                "no GitHub OIDC token available",
                hint="give the job `permissions: id-token: write`",
            )
        import requests  # only when a token is needed

        self._redact.add(request_token)
        url = f"{url}{'&' if '?' in url else '?'}audience={quote(audience)}"
        headers = {"Authorization": f"Bearer {request_token}", "Accept": "application/json"}
        failure = ""
        for attempt in range(1, self.OIDC_ATTEMPTS + 1):
            if attempt > 1:
                backoff = min(self.OIDC_BACKOFF_S * 2 ** (attempt - 2), self.OIDC_MAX_BACKOFF_S)
                self.sleep(backoff * random.uniform(0.5, 1.0))
            try:
                reply = requests.get(url, headers=headers, timeout=(self.oidc_timeout_s, self.oidc_timeout_s))
            except requests.RequestException as exc:  # refused, reset, timed out
                failure = type(exc).__name__
                continue
            if reply.status_code == 200:
                return self._token_from(reply)
            failure = f"HTTP {reply.status_code}"
            if reply.status_code not in OIDC_RETRY_STATUSES:
                raise CredentialsError(f"the GitHub OIDC token request was refused: {failure}",
                                       hint="check the job's `permissions: id-token: write`")
        raise CredentialsError(f"could not get the GitHub OIDC token in {self.OIDC_ATTEMPTS} attempts: {failure}")

    def _token_from(self, reply: Any) -> str:
        try:
            token = reply.json().get("value")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise CredentialsError("the GitHub OIDC token reply holds no token")
        self.mask(token)
        return token


def _cut(text: str, limit: int) -> str:
    """`text` if it takes at most `limit` bytes in UTF-8, else its first whole lines that fit
    with SUMMARY_CUT_NOTE after them."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(SUMMARY_CUT_NOTE.encode("utf-8")))
    head = data[:room]
    head = head[: head.rfind(b"\n") + 1]
    return head.decode("utf-8", errors="ignore") + SUMMARY_CUT_NOTE


def _writable_directory(path: Path) -> bool:
    """Whether files can be created in `path` (a probe: permissions alone do not tell, for root
    on a read-only mount)."""
    try:
        probe = tempfile.mkdtemp(prefix=".faas-probe-", dir=path)
    except OSError:
        return False
    os.rmdir(probe)
    return True


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
        self.lock = threading.Lock()
        self.printed = False

    def _keep(self, kind: str, message: str) -> None:
        with self.lock:
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
        """Print every kept line in one group, holding the runner's lock throughout; once (a
        function given up on after a cancellation is printed then, not again if it ends later)."""
        with self.runner.lock, self.lock:
            if self.printed:
                return
            self.printed = True
            with self.runner.group(title):
                for kind, message in self.lines:
                    if kind == "warning":
                        self.runner.warning(f"{self.name}: {message}")
                    elif kind == "debug":
                        self.runner.debug(message)
                    else:
                        self.runner.print(message)
