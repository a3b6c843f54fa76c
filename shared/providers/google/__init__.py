"""Google Workspace adapter: google-auth, google-auth-oauthlib and google-api-python-client.

Modules (import the one you need; each imports its SDK lazily so importing the app stays cheap):

* :mod:`.auth` - :class:`~.auth.GoogleDelegatedAuth` (per-user OAuth with PKCE) and
  :class:`~.auth.GoogleUserTokenSource` (a caching token source over a stored grant);
* :mod:`.service_account` - :class:`~.service_account.GoogleServiceAccountAuth`
  (domain-wide delegation for service integrations);
* :mod:`.calendar` - :class:`~.calendar.GoogleCalendarClient` (Calendar v3, the Admin SDK
  directory for rooms);
* :mod:`.errors` - the one translation of Google errors into :mod:`shared.errors`;
* :mod:`.ids` - deterministic client-supplied event ids.
"""
