"""Credentials and botocore clients.

Owns: finding the job's AWS credentials (failing before any call when there are none), masking
them, and creating the clients with bounded retries and timeouts; botocore's model loader
without its scan of every service folder.
Must not: call the Lambda API or read os.environ (botocore reads the environment itself).
"""

from __future__ import annotations

import os
import threading

import botocore.loaders
import botocore.session
from botocore.config import Config

from ...errors import CredentialsError
from ...models import FunctionSpec
from ..base import RunContext
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


def connect(spec: FunctionSpec, ctx: RunContext) -> LambdaProvider:
    """A provider with clients for the spec's region; fails early when no credentials exist."""
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

    def client(service: str):
        with _SESSION_LOCK:
            return session.create_client(service, region_name=options.region, config=config)

    return LambdaProvider(client("lambda"), lambda: client("s3"), ctx, ecr_factory=lambda: client("ecr"))


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
