"""Map raw Microsoft and Google OAuth errors to catalogue entries.

Which provider value means which entry is data (each entry's ``matches`` in catalogue.toml);
this module only knows *where* to look in a provider's error and in which order, plus the few
cases where only the description tells two meanings of one ``error`` value apart.

Microsoft (https://learn.microsoft.com/entra/identity-platform/reference-error-codes, "Handling
error codes in your application"): the token endpoint answers ``error``, ``error_description``
(``AADSTSnnnn: text\\r\\nTrace ID: ...\\r\\nCorrelation ID: ...\\r\\nTimestamp: ...``),
``error_codes`` and sometimes ``suberror``; the authorize redirect carries ``error`` and
``error_description`` only. The AADSTS number is the most specific signal, then ``suberror``,
then ``error``; Microsoft warns that texts change, so the number is read, never the wording.

Google (https://developers.google.com/identity/protocols/oauth2/web-server, "Authorization
errors"): ``error`` and ``error_description`` only. ``access_denied`` means both "the user
cancelled" and "a context-aware access policy blocked the user", and ``invalid_grant`` both a
revoked refresh token and a failed code exchange or service-account assertion: the description
separates them.
"""

from __future__ import annotations

import re
from typing import Final

from shared.diagnostics.catalogue import UNKNOWN, Catalogue, Diagnosis, load_catalogue
from shared.errors import (
    ConsentFailed,
    ProviderError,
    ProviderUnavailable,
    ReconnectNeeded,
    Throttled,
)

_AADSTS: Final = re.compile(r"AADSTS(\d+)")
# Entra appends these lines to every error_description; support desks ask for them.
_TRACE_LINES: Final = re.compile(r"(Trace ID|Correlation ID|Timestamp):\s*([^\r\n]+)")
_TRACE_KEYS: Final = {
    "Trace ID": "trace_id",
    "Correlation ID": "correlation_id",
    "Timestamp": "timestamp",
}

# Google descriptions (lower case) that decide between entries sharing one ``error`` value.
_CONTEXT_AWARE: Final = ("context-aware", "context aware")
_CODE_EXCHANGE: Final = ("code verifier", "malformed auth code", "code was already redeemed")
_SERVICE_ACCOUNT: Final = ("jwt", "account not found")
# Domain-wide delegation refusals naming the user to act as (texts as GAM classifies them).
_UNKNOWN_SUBJECT: Final = ("invalid email or user id", "not a valid email")
_DELETED_SUBJECT: Final = ("account has been deleted",)


def diagnose_microsoft(
    error: str | None,
    error_description: str | None = None,
    error_codes: list[int] | None = None,
    suberror: str | None = None,
    **context: str | None,
) -> Diagnosis:
    """Diagnose a Microsoft identity platform error (authorize redirect or token response).

    Order: the first AADSTS number the catalogue knows, from ``error_codes`` first (the list wins
    over the text), then from ``AADSTSnnnn`` in ``error_description``; then ``suberror``
    (``consent_required`` -> AADSTS65001, ``bad_token`` -> reconnect); then ``error``
    (``invalid_grant`` without a known number -> ``microsoft.invalid_grant``,
    ``interaction_required`` -> sign in again). Anything else is ``unknown`` with the AADSTS
    number (or the ``error`` value) in ``details["code"]``. ``raw`` is the description (or the
    error); ``details`` also carries ``error``, ``suberror``, ``aadsts`` and Entra's trace,
    correlation ID and timestamp. ``context`` fills the placeholders (see Catalogue.get).
    """
    cat = load_catalogue()
    description = error_description or ""
    numbers = [str(n) for n in error_codes or []] + _AADSTS.findall(description)
    details: dict[str, str] = {"provider": "microsoft"}
    if error:
        details["error"] = error
    if suberror:
        details["suberror"] = suberror
    if error_codes:
        details["error_codes"] = ",".join(str(n) for n in error_codes)
    if numbers:
        details["aadsts"] = f"AADSTS{numbers[0]}"
    for label, value in _TRACE_LINES.findall(description):
        details[_TRACE_KEYS[label]] = value.strip()

    candidates = [f"AADSTS{n}" for n in numbers]
    # access_denied alone is the person cancelling (the documented redirect "the user canceled
    # the authentication"); with an AADSTS number we do not know, it may be a policy block, so
    # that stays unknown rather than telling the person to simply try again.
    general = [v for v in (suberror, error) if v and not (v == "access_denied" and numbers)]
    candidates += [f"microsoft:{v}" for v in general]
    fallback = details.get("aadsts") or error or "none"
    return _pick(cat, candidates, fallback, error_description or error, details, context)


def diagnose_google(
    error: str | None,
    error_description: str | None = None,
    **context: str | None,
) -> Diagnosis:
    """Diagnose a Google OAuth error (authorization redirect, token endpoint or API reason).

    ``access_denied`` whose description mentions context-aware access ->
    ``google.context_aware_access``, otherwise the user cancelled (``google.access_denied``).
    ``invalid_grant`` -> ``google.invalid_grant`` (revoked or expired refresh token: reconnect)
    unless the description shows a failed code exchange (``sign_in_expired``), a delegation
    refused for the user to act as (``google.dwd_unknown_user``, ``google.dwd_account_deleted``)
    or a rejected service-account assertion (``google.service_account_rejected``). Other values
    go through the catalogue's ``google:<value>`` matches; the rest is ``unknown`` with the value in
    ``details["code"]``. ``raw`` is the description (or the error).
    """
    cat = load_catalogue()
    low = (error_description or "").lower()
    details: dict[str, str] = {"provider": "google"}
    if error:
        details["error"] = error
    candidates: list[str] = []
    if error == "access_denied" and any(k in low for k in _CONTEXT_AWARE):
        candidates.append("google.context_aware_access")
    elif error == "invalid_grant":
        if any(k in low for k in _CODE_EXCHANGE) or low.strip() == "bad request":
            # The token endpoint answers a reused or expired code with a bare "Bad Request".
            candidates.append("sign_in_expired")
        elif any(k in low for k in _UNKNOWN_SUBJECT):
            candidates.append("google.dwd_unknown_user")
        elif any(k in low for k in _DELETED_SUBJECT):
            candidates.append("google.dwd_account_deleted")
        elif any(k in low for k in _SERVICE_ACCOUNT):
            candidates.append("google.service_account_rejected")
        else:
            candidates.append("google.invalid_grant")
    if error:
        candidates.append(f"google:{error}")
    fallback = error or "none"
    return _pick(cat, candidates, fallback, error_description or error, details, context)


def diagnose(
    provider: str,
    error: str | None,
    error_description: str | None = None,
    error_codes: list[int] | None = None,
    suberror: str | None = None,
    **context: str | None,
) -> Diagnosis:
    """Dispatch to :func:`diagnose_microsoft` or :func:`diagnose_google` by ``provider``.

    Google has no ``error_codes`` or ``suberror``; they are ignored for it. Any other provider
    name raises ValueError (a programming error, not a provider failure).
    """
    if provider == "microsoft":
        return diagnose_microsoft(error, error_description, error_codes, suberror, **context)
    if provider == "google":
        return diagnose_google(error, error_description, **context)
    raise ValueError(f"unknown provider {provider!r}")


def diagnose_provider_error(exc: ProviderError, **context: str | None) -> Diagnosis:
    """The diagnosis for one of our typed provider errors (shared.errors), raised by adapters.

    :class:`ConsentFailed` is diagnosed from its OAuth fields; :class:`Throttled` and
    :class:`ProviderUnavailable` are the transient entries; :class:`ReconnectNeeded` is the
    provider's specific entry when its ``provider_code`` is known (AADSTS50173, ...), else
    ``revoked_token``; anything else goes by ``provider_code`` and keeps ``detail`` as raw.
    """
    if isinstance(exc, ConsentFailed):
        return diagnose(
            exc.provider,
            exc.error,
            exc.error_description,
            exc.error_codes,
            exc.suberror,
            **context,
        )
    if isinstance(exc, Throttled | ProviderUnavailable):
        code = "throttled" if isinstance(exc, Throttled) else "provider_unavailable"
        return load_catalogue().get(code, raw=exc.detail, provider=exc.provider, **context)
    found = diagnose(exc.provider, exc.provider_code, exc.detail, None, None, **context)
    if isinstance(exc, ReconnectNeeded) and found.code == UNKNOWN:
        return load_catalogue().get("revoked_token", **{**found.details, "raw": found.raw})
    return found


def _pick(
    cat: Catalogue,
    candidates: list[str],
    fallback: str,
    raw: str | None,
    details: dict[str, str],
    context: dict[str, str | None],
) -> Diagnosis:
    """The first candidate the catalogue knows, else ``unknown`` keeping ``fallback`` as code."""
    merged: dict[str, str | None] = {**details, **context}
    if raw is not None and merged.get("raw") is None:
        merged["raw"] = raw
    for candidate in candidates:
        if cat.resolve(candidate) is not None:
            return cat.get(candidate, **merged)
    # Never swallowed: the unknown entry keeps the provider's code and words.
    return cat.get(UNKNOWN, **{**merged, "code": fallback})
