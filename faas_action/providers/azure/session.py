"""Azure credentials, and connecting the provider.

Owns: choosing the credential, first that applies: the azure-access-token input, GitHub OIDC
exchanged through a federated credential (ClientAssertionCredential, audience
api://AzureADTokenExchange), AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, else
DefaultAzureCredential; `check_environment`, which reports before any call a federated token file
the chain would use but this container cannot see; and `connect`. One management-scope token
serves ARM and Kudu.
Must not: request a token (credentials fetch one on the first request), call Azure, or read
os.environ (ctx.environ only; DefaultAzureCredential alone reads the process environment, as it
must).
"""

from __future__ import annotations

from typing import Any, Mapping

from azure.core.credentials import AccessToken

from ...errors import CredentialsError, Problem
from ...models import AzureOptions, FunctionSpec
from ..base import RunContext, unusable_file
from .calls import AUTH_HINT
from .provider import AzureFunctions

OIDC_AUDIENCE = "api://AzureADTokenExchange"


def check_environment(spec: FunctionSpec, environ: Mapping[str, str]) -> list[Problem]:
    """A federated token file the credential chain would use but this container cannot see
    (workload identity on Kubernetes runners mounts it into the runner's pod). No call."""
    options = spec.options
    assert isinstance(options, AzureOptions)
    token_file = environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if not token_file or not _uses_token_file(options, environ):
        return []
    problem = _token_file_problem(token_file)
    return [Problem("", problem)] if problem else []


def _uses_token_file(options: AzureOptions, environ: Mapping[str, str]) -> bool:
    """Would choose_credential reach AZURE_FEDERATED_TOKEN_FILE (no credential before it applies)?"""
    oidc = bool(environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") and environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    client, tenant = options.client_id, options.tenant_id
    secret = bool(environ.get("AZURE_CLIENT_SECRET") and client and tenant)
    return not (options.access_token or (oidc and (client or tenant)) or secret)


def _token_file_problem(token_file: str) -> str | None:
    """Why AZURE_FEDERATED_TOKEN_FILE cannot be used (not there, or not a regular file); None when it can."""
    return unusable_file("AZURE_FEDERATED_TOKEN_FILE", token_file, (
        "use GitHub OIDC instead (a federated credential for this repository on the app registration, "
        "`permissions: id-token: write`, client-id and tenant-id), or pass azure-access-token"
    ))


def connect(spec: FunctionSpec, ctx: RunContext) -> AzureFunctions:
    """Choose the credential and build the clients; no network."""
    options = spec.options
    assert isinstance(options, AzureOptions)
    how, credential = choose_credential(options, ctx)
    ctx.log.info(f"Azure credentials: {how}")
    return AzureFunctions(options, credential, ctx, wait_s=spec.wait_timeout_s)


class StaticToken:
    """The azure-access-token input as a TokenCredential: the same bearer token for every request."""

    # azure-core refreshes a token 5 minutes before this; a given token cannot be refreshed anyway.
    EXPIRES_ON = 2**31 - 1

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self.EXPIRES_ON)


def choose_credential(options: AzureOptions, ctx: RunContext) -> tuple[str, Any]:
    """The first credential that applies, in the documented order, and how it was chosen."""
    environ = ctx.environ
    authority = {"authority": environ["AZURE_AUTHORITY_HOST"]} if environ.get("AZURE_AUTHORITY_HOST") else {}
    client, tenant = options.client_id, options.tenant_id
    if options.access_token:
        return "the azure-access-token input", StaticToken(options.access_token)
    oidc = bool(
        ctx.id_token and environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") and environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )
    if oidc and (client or tenant):
        if not (client and tenant):
            raise CredentialsError("OIDC sign-in needs both client-id and tenant-id", hint=AUTH_HINT)
        from azure.identity import ClientAssertionCredential

        id_token = ctx.id_token
        assert id_token is not None
        return (
            f"GitHub OIDC token exchanged for client {client} (federated credential)",
            ClientAssertionCredential(tenant, client, lambda: id_token(OIDC_AUDIENCE), **authority),
        )
    secret = environ.get("AZURE_CLIENT_SECRET")
    if secret and client and tenant:
        from azure.identity import ClientSecretCredential

        ctx.log.mask(secret)
        return f"client secret of client {client} (AZURE_CLIENT_SECRET)", ClientSecretCredential(
            tenant, client, secret, **authority
        )
    token_file = environ.get("AZURE_FEDERATED_TOKEN_FILE")
    problem = _token_file_problem(token_file) if token_file else None
    if problem:  # DefaultAzureCredential would try it too
        raise CredentialsError(problem)
    if token_file and client and tenant:
        from azure.identity import WorkloadIdentityCredential

        return (
            f"federated token file of client {client} (AZURE_FEDERATED_TOKEN_FILE)",
            WorkloadIdentityCredential(tenant_id=tenant, client_id=client, token_file_path=token_file, **authority),
        )
    if client and tenant:
        # A client and a tenant only make sense with a federated credential or a secret.
        raise CredentialsError(
            "client-id and tenant-id are set, but there is no GitHub OIDC token, AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE to sign in with",
            hint="give the job `permissions: id-token: write` (a container action cannot reuse the azure/login session)",
        )
    from azure.identity import DefaultAzureCredential

    managed = {"managed_identity_client_id": client} if client else {}
    return "DefaultAzureCredential (environment, workload or managed identity)", DefaultAzureCredential(
        **authority, **managed
    )
