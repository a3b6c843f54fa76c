"""How the simulated token endpoint authenticates a confidential client.

Entra ID accepts (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):

* a client secret (``client_secret`` in the form, or HTTP Basic): any of the app's current
  password credentials. An expired one answers AADSTS7000222
  ("InvalidClientSecretExpiredKeysProvided"); an unknown value AADSTS7000215 (whose text asks
  for "the client secret value, not the client secret ID");
* a certificate (``client_assertion_type`` = :data:`JWT_BEARER` and ``client_assertion``):
  a JWT signed (RS256 or PS256) with a key whose certificate is uploaded to the app, named
  by ``x5t`` (SHA-1) or ``x5t#S256`` (SHA-256) in its header, with ``iss`` = ``sub`` = the
  client id and ``aud`` the token endpoint
  (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). An unknown
  key answers AADSTS700027, an expired certificate AADSTS700024.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from simulator.microsoft import identity_errors as errs
from simulator.microsoft.directory import AppRegistration, KeyCredential
from simulator.world import World

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def thumbprints(certificate_pem: str) -> tuple[str, str]:
    """SHA-1 and SHA-256 thumbprints (hex) of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    der = cert.public_bytes(Encoding.DER)
    return hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()


def not_after(certificate_pem: str) -> float:
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return cert.not_valid_after_utc.timestamp()


def _b64url_hex(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded).hex()
    except (binascii.Error, ValueError):
        return ""


def check_secret(world: World, app: AppRegistration, secret: str) -> errs.AadError | None:
    """``None`` when ``secret`` is a current secret of ``app``, else the error to answer."""
    if app.client_secret is not None and secret == app.client_secret:
        return None
    now = world.timestamp()
    for credential in app.password_credentials:
        if credential.secret_text == secret:
            return None if credential.end > now else expired_secret(app.client_id)
    return errs.bad_client_secret(app.client_id)


def check_assertion(world: World, app: AppRegistration, assertion: str) -> errs.AadError | None:
    """``None`` when the client assertion is signed by one of the app's certificates."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return invalid_assertion("The client assertion is not a valid JWT.")
    sha1 = _b64url_hex(str(header.get("x5t", "")))
    sha256 = _b64url_hex(str(header.get("x5t#S256", "")))
    key: KeyCredential | None = next(
        (
            k
            for k in app.key_credentials
            if (sha1 and k.sha1 == sha1) or (sha256 and k.sha256 == sha256)
        ),
        None,
    )
    if key is None:
        return unknown_key(app.client_id)
    if key.end <= world.timestamp():
        return expired_certificate(app.client_id)
    public = x509.load_pem_x509_certificate(key.certificate_pem.encode()).public_key()
    try:
        claims = jwt.decode(
            assertion,
            public,  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        return invalid_signature(app.client_id)
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        return invalid_assertion("The client assertion's iss and sub must be the client id.")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp < time.time() - 300:
        return invalid_assertion("The client assertion is expired.")
    return None


def expired_secret(client_id: str) -> errs.AadError:
    return errs.AadError(
        "invalid_client",
        7000222,
        "The provided client secret keys for app '"
        + client_id
        + "' are expired. Visit the Azure portal to create new keys for your app: "
        "https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
        "security: https://aka.ms/certCreds.",
        status=401,
    )


def unknown_key(client_id: str) -> errs.AadError:
    return errs.AadError(
        "invalid_client",
        700027,
        f"The certificate with identifier used to sign the client assertion is not registered "
        f"on application. [Reason - The key was not found., Thumbprint of key used by client: "
        f"unknown, Please visit the Azure Portal, Graph Explorer or directly use MS Graph to "
        f"see configured keys for app Id '{client_id}'.]",
        status=401,
    )


def expired_certificate(client_id: str) -> errs.AadError:
    return errs.AadError(
        "invalid_client",
        700024,
        f"Client assertion is not within its valid time range for app '{client_id}'.",
        status=401,
    )


def invalid_signature(client_id: str) -> errs.AadError:
    return errs.AadError(
        "invalid_client",
        700027,
        f"Client assertion failed signature validation for app '{client_id}'.",
        status=401,
    )


def invalid_assertion(message: str) -> errs.AadError:
    return errs.AadError("invalid_client", 700027, message, status=401)
