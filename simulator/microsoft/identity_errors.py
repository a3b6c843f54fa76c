"""Error responses of the simulated Microsoft identity platform, in Entra ID's exact shapes.

Two shapes exist (https://learn.microsoft.com/entra/identity-platform/reference-error-codes,
"Handling error codes in your application"):

* the token endpoint answers JSON with ``error``, ``error_description`` (``AADSTSnnnn: text``
  then ``Trace ID``, ``Correlation ID`` and ``Timestamp: yyyy-mm-dd hh:mm:ssZ`` lines, CRLF),
  ``error_codes`` (list of ints), ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``
  (``https://login.microsoftonline.com/error?code=nnnn``) and, for errors that ask the user to
  sign in again, ``suberror`` (e.g. ``bad_token`` for revoked grants, ``consent_required``);
* the authorize and admin-consent endpoints redirect to the app's redirect URI with ``error``,
  ``error_description``, ``error_uri`` and ``state`` as query (or form_post) parameters.

The texts below follow the public error-code reference and responses quoted in public issue
threads; see tests/simulator/payloads/microsoft_identity/ for the examples the tests compare with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from simulator.world import World

ERROR_PAGE = "https://login.microsoftonline.com/error"


@dataclass(frozen=True)
class AadError:
    """One AADSTS error: OAuth ``error`` value, AADSTS number, message, optional ``suberror``."""

    error: str
    code: int
    message: str
    suberror: str | None = None
    status: int = 400

    def description(self, trace_id: str, correlation_id: str, timestamp: str) -> str:
        return (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        )


def _stamp(world: World) -> str:
    return world.now().strftime("%Y-%m-%d %H:%M:%SZ")


def token_error_body(world: World, err: AadError) -> dict[str, Any]:
    """The JSON body the ``/token`` endpoint answers for ``err``."""
    trace_id, correlation_id, stamp = str(uuid.uuid4()), str(uuid.uuid4()), _stamp(world)
    body: dict[str, Any] = {
        "error": err.error,
        "error_description": err.description(trace_id, correlation_id, stamp),
        "error_codes": [err.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{ERROR_PAGE}?code={err.code}",
    }
    if err.suberror:
        body["suberror"] = err.suberror
    return body


def redirect_error_params(world: World, err: AadError) -> dict[str, str]:
    """The parameters the authorize endpoint appends to the redirect URI for ``err``."""
    trace_id, correlation_id, stamp = str(uuid.uuid4()), str(uuid.uuid4()), _stamp(world)
    return {
        "error": err.error,
        "error_description": err.description(trace_id, correlation_id, stamp),
        "error_uri": f"{ERROR_PAGE}?code={err.code}",
    }


# --- the catalogue (texts from the Entra error-code reference) ---------------------------------


def user_not_assigned(upn: str, client_id: str, app_name: str) -> AadError:
    # Seed 000 quotes the sign-in page text; Entra sends the same text as error_description.
    return AadError(
        "access_denied",
        50105,
        f"The signed-in user '{upn}' is not assigned to a role for the application "
        f"'{client_id}'({app_name}).",
    )


def user_not_assigned_grant(upn: str, client_id: str, app_name: str) -> AadError:
    base = user_not_assigned(upn, client_id, app_name)
    return AadError("invalid_grant", base.code, base.message)


def admin_approval_required(tenant_name: str, app_name: str) -> AadError:
    return AadError(
        "access_denied",
        90094,
        f"An administrator of {tenant_name} has set a policy that prevents you from granting "
        f"{app_name} the permissions it is requesting. Contact an administrator of "
        f"{tenant_name}, who can grant permissions to this app on your behalf.",
    )


def admin_consent_needs_admin(app_name: str) -> AadError:
    return AadError(
        "access_denied",
        90094,
        f"{app_name} needs permission to access resources in your organization that only an "
        "admin can grant. Please ask an admin to grant permission to this app before you can "
        "use it.",
    )


def consent_not_granted(client_id: str, app_name: str, *, at_token: bool) -> AadError:
    text = (
        f"The user or administrator has not consented to use the application with ID "
        f"'{client_id}' named '{app_name}'. Send an interactive authorization request for this "
        "user and resource."
    )
    if at_token:
        return AadError("invalid_grant", 65001, text, suberror="consent_required")
    return AadError("consent_required", 65001, text)


def user_declined() -> AadError:
    return AadError("access_denied", 65004, "User declined to consent to access the app.")


def blocked_by_conditional_access(*, at_token: bool) -> AadError:
    return AadError(
        "invalid_grant" if at_token else "access_denied",
        53003,
        "Access has been blocked by Conditional Access policies. The access policy does not "
        "allow token issuance.",
    )


def app_not_in_tenant(client_id: str, tenant_name: str) -> AadError:
    return AadError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory "
        f"'{tenant_name}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You may have "
        "sent your authentication request to the wrong tenant.",
    )


def guest_blocked(email: str, home_tenant_id: str, tenant_name: str, client_id: str) -> AadError:
    return AadError(
        "access_denied",
        50020,
        f"User account '{email}' from identity provider 'https://sts.windows.net/"
        f"{home_tenant_id}/' does not exist in tenant '{tenant_name}' and cannot access the "
        f"application '{client_id}' in that tenant. The account needs to be added as an "
        "external user in the tenant first. Sign out and sign in again with a different "
        "Azure Active Directory user account.",
    )


def mfa_required(resource: str) -> AadError:
    return AadError(
        "interaction_required",
        50076,
        "Due to a configuration change made by your administrator, or because you moved to a "
        f"new location, you must use multi-factor authentication to access '{resource}'.",
    )


def refresh_token_inactive(issued: str, inactive: str) -> AadError:
    return AadError(
        "invalid_grant",
        700082,
        f"The refresh token has expired due to inactivity. The token was issued on {issued} "
        f"and was inactive for {inactive}.",
        suberror="bad_token",
    )


def grant_revoked(issued: str, valid_from: str) -> AadError:
    return AadError(
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
        "The user might have changed or reset their password. The grant was issued on "
        f"'{issued}' and the TokensValidFrom date (before which tokens are not valid) for this "
        f"user is '{valid_from}'.",
        suberror="bad_token",
    )


def bad_client_secret(client_id: str) -> AadError:
    return AadError(
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app "
        f"'{client_id}'.",
        status=401,
    )


def missing_client_secret() -> AadError:
    return AadError(
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
        status=401,
    )


def code_redeemed() -> AadError:
    return AadError(
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
        "use an existing refresh token.",
    )


def code_expired() -> AadError:
    return AadError(
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send "
        "a new interactive authorization request for this user and resource.",
    )


def pkce_mismatch() -> AadError:
    return AadError(
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization "
        "request.",
    )


def redirect_mismatch(redirect_uri: str, client_id: str) -> AadError:
    return AadError(
        "invalid_grant" if redirect_uri else "invalid_request",
        50011,
        f"The redirect URI '{redirect_uri}' specified in the request does not match the "
        f"redirect URIs configured for the application '{client_id}'. Make sure the redirect "
        "URI sent in the request matches one added to your application in the Azure portal.",
    )


def wrong_tenant_for_code() -> AadError:
    return AadError(
        "invalid_grant",
        700005,
        "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    )


def invalid_grant_malformed() -> AadError:
    return AadError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")


def refresh_token_used() -> AadError:
    return AadError(
        "invalid_grant",
        70000,
        "The provided value for the 'refresh_token' is not valid: the refresh token was "
        "already redeemed and replaced by a newer one.",
        suberror="bad_token",
    )


def missing_parameter(name: str) -> AadError:
    return AadError(
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def invalid_scope(scope: str) -> AadError:
    return AadError(
        "invalid_scope",
        70011,
        f"The provided value for the input parameter 'scope' is not valid. The scope {scope} "
        "is not valid.",
    )


def unsupported_grant_type(grant_type: str) -> AadError:
    return AadError(
        "unsupported_grant_type",
        70003,
        f"The app requested an unsupported grant type '{grant_type}'.",
    )


def grant_not_on_common() -> AadError:
    return AadError(
        "invalid_request",
        9001023,
        "The grant type isn't supported over the /common or /consumers endpoints. Please use "
        "the /organizations or tenant-specific endpoint.",
    )


def tenant_not_found(tenant: str) -> AadError:
    return AadError(
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def unknown_client(client_id: str) -> AadError:
    return AadError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory.",
    )


def login_required() -> AadError:
    return AadError(
        "login_required",
        50058,
        "A silent sign-in request was sent but no user is signed in.",
    )


def unsupported_response_type(value: str) -> AadError:
    return AadError(
        "unsupported_response_type",
        70005,
        f"The app returned an unsupported response type '{value}'.",
    )


def pkce_required() -> AadError:
    return AadError(
        "invalid_request",
        501491,
        "Invalid size of Code_Challenge parameter: a code_challenge with "
        "code_challenge_method S256 is required.",
    )


def user_disabled() -> AadError:
    return AadError(
        "invalid_grant",
        50057,
        "The user account is disabled. The user object in Active Directory backing this "
        "account has been disabled. An admin can re-enable this account through PowerShell",
    )
