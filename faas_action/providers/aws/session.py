"""Credentials and botocore clients.

Owns: finding the job's AWS credentials (failing before any call when there are none, and
before anything else when the environment names a credentials file or profile this container
cannot see), masking them, and creating the clients with bounded retries and timeouts;
botocore's model loader without its scan of every service folder.
Must not: call the Lambda API or read os.environ (botocore reads the environment itself; the
checks here read the environ they are given).
"""

from __future__ import annotations

import os
import threading
from typing import Mapping

import botocore.configloader
import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config

from ...errors import CredentialsError, Problem
from ...models import FunctionSpec
from ... import userfiles
from ..base import CONTAINER_NOTE, RunContext, unusable_file
from .client import CONNECT_TIMEOUT_S, READ_TIMEOUT_S
from .limits import options_of
from .provider import LambdaProvider


# One botocore session per set of AWS_* settings, shared by every function of the run: a new
# session loads and parses the models and endpoints again (tens of ms each, times the functions of
# a `functions:` list). A session is not thread-safe, so clients are created under the lock; the
# clients themselves are (botocore's low-level clients are thread-safe), and each function still
# gets its own.
_SESSIONS: dict[tuple, botocore.session.Session] = {}
_SESSION_LOCK = threading.Lock()


def _session(environ: dict[str, str]) -> botocore.session.Session:
    key = tuple(sorted((k, v) for k, v in environ.items() if k.startswith("AWS_")))
    with _SESSION_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = botocore.session.get_session()
            loader = botocore.loaders.create_loader(session.get_config_variable("data_path"))
            session.register_component("data_loader", _DataLoader.like(loader))
            _SESSIONS[key] = session
        return session
OIDC_INSTEAD = (
    "use aws-actions/configure-aws-credentials (role-to-assume with GitHub OIDC) before this step: "
    "it puts the credentials in the job's environment, which the action sees"
)


def check_environment(spec: FunctionSpec, environ: Mapping[str, str]) -> list[Problem]:
    """Credential sources the environment names but this container cannot see: a web identity
    token file, a shared credentials file, a profile. Local checks only (files and variables),
    in the order botocore's chain would use them; no call."""
    has_keys = bool(environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"))
    home = environ.get("HOME", "")
    credentials_file = environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
    config_file = environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    variable = "AWS_DEFAULT_PROFILE" if environ.get("AWS_DEFAULT_PROFILE") else "AWS_PROFILE"
    profile = environ.get(variable)
    if profile:  # botocore refuses a missing profile even when keys are in the environment
        try:
            known = _profiles(credentials_file, config_file)
        except botocore.exceptions.BotoCoreError as exc:
            return [Problem("", f"{variable} is {profile}, but the AWS config files cannot be read: {exc}")]
        if profile not in known:
            looked = ", ".join(f"{path} ({_what_is_at(path)})" for path in (credentials_file, config_file))
            return [Problem("", f"{variable} names profile {profile!r}, which is in none of {looked}: {CONTAINER_NOTE}; {OIDC_INSTEAD}")]
    if has_keys:
        return []  # the environment's keys come first: no file is read
    token_file = environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if token_file and environ.get("AWS_ROLE_ARN"):
        problem = unusable_file("AWS_WEB_IDENTITY_TOKEN_FILE", token_file, OIDC_INSTEAD)
        return [Problem("", problem)] if problem else []
    shared = environ.get("AWS_SHARED_CREDENTIALS_FILE")
    container_credentials = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if shared and not container_credentials and not os.path.isfile(config_file):
        problem = unusable_file("AWS_SHARED_CREDENTIALS_FILE", shared, OIDC_INSTEAD)
        return [Problem("", problem)] if problem else []
    return []


def _what_is_at(path: str) -> str:
    if os.path.isfile(path):
        return "exists"
    kind = userfiles.special_kind(path)
    return f"{kind}, not a regular file" if kind else "not there"


def _profiles(credentials_file: str, config_file: str) -> set[str]:
    """The profile names in the shared credentials and config files that exist."""
    names: set[str] = set()
    if os.path.isfile(credentials_file):
        names.update(botocore.configloader.raw_config_parse(credentials_file))
    if os.path.isfile(config_file):
        names.update(botocore.configloader.load_config(config_file).get("profiles", {}))
    return names


def connect(spec: FunctionSpec, ctx: RunContext) -> LambdaProvider:
    """A provider with clients for the spec's region; fails early when no credentials exist."""
    problems = check_environment(spec, ctx.environ)
    if problems:  # main.py reports these with the input problems: this is a second line of defence
        raise CredentialsError("; ".join(problem.message for problem in problems))
    options = options_of(spec)
    session = _session(ctx.environ)
    try:
        credentials = session.get_credentials()
    except Exception as exc:  # a broken profile or credential process
        raise CredentialsError(f"AWS credentials could not be loaded: {exc}") from exc
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found",
            hint="add aws-actions/configure-aws-credentials (role-to-assume with OIDC) before this step, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    ctx.log.mask(credentials.secret_key or "")
    if credentials.token:
        ctx.log.mask(credentials.token)
    # botocore makes one attempt per call: LambdaCalls retries what botocore would (network
    # errors, 5xx, throttling) on the run's clock and within wait-timeout, where botocore's own
    # retries would sleep in real time and let a silent endpoint take 4 x the read timeout.
    # 'adaptive' still paces requests after throttling (its client-side rate limiter).
    config = Config(
        retries={"mode": "adaptive", "total_max_attempts": 1},
        user_agent_extra="faas-action",
        connect_timeout=min(CONNECT_TIMEOUT_S, spec.wait_timeout_s),
        read_timeout=READ_TIMEOUT_S,
    )

    def client(service: str, settings: Config = config):
        with _SESSION_LOCK:
            return session.create_client(service, region_name=options.region, config=settings)

    # A smoke test's invoke waits for the function (up to its 900 s timeout) and is never
    # retried by botocore: a retried invoke would run the function twice.
    invoke_config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=910))
    return LambdaProvider(
        client("lambda"),
        lambda: client("s3"),
        ctx,
        ecr_factory=lambda: client("ecr"),
        cloudwatch_factory=lambda: client("cloudwatch"),
        invoke_factory=lambda: client("lambda", invoke_config),
    )


class _DataLoader(botocore.loaders.Loader):
    """botocore's model loader, without one scan. Before it loads a service's model botocore lists
    every service it knows, a listdir and a stat or two in each of ~440 folders (15-50 ms per
    model type, the most on a cold container), only to check that the name asked for is one of
    them. Here that check looks at the one folder; an unknown name still raises botocore's
    UnknownServiceError, whose message still lists every service."""

    @classmethod
    def like(cls, loader: botocore.loaders.Loader) -> "_DataLoader":
        """The same search paths (AWS_DATA_PATH, ~/.aws/models, botocore's data) in the same order."""
        return cls(extra_search_paths=loader.search_paths, include_default_search_paths=False)

    def list_available_services(self, type_name: str) -> "_ServiceNames":
        return _ServiceNames(self, type_name)


class _ServiceNames:
    """What botocore does with the list of services: `name in it`, and joining it for an error."""

    def __init__(self, loader: _DataLoader, type_name: str) -> None:
        self.loader = loader
        self.type_name = type_name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(os.path.isdir(os.path.join(path, name)) for path in self.loader.search_paths)

    def __iter__(self):
        return iter(botocore.loaders.Loader.list_available_services(self.loader, self.type_name))
