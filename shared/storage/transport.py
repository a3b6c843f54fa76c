"""The HTTP transport of the storage clients: one pooled session per client, for the process.

The Azure SDKs send through ``requests``; a default session looks up proxy settings in the
environment on every request (``requests.Session.merge_environment_settings``), which was 8% of a
worker's CPU per Table request. When the environment names no proxy (the usual case, Azure
Functions included), the session is told not to look (``trust_env = False``); when it does, the
default behaviour stays so the proxy is honoured. The pool holds as many connections as the
worker has calendars in flight (``SYNC_CONCURRENCY``), so none is opened and dropped per request.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from typing import Any

POOL_SIZE = 64


def client_kwargs(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for an Azure SDK client: a transport without per-request proxy
    lookups, plus ``options`` (:meth:`shared.deadlines.Timeouts.azure_kwargs`). A client given
    a transport does not pass its own ``connection_timeout``/``read_timeout`` on, so those
    two go to the transport here."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if urllib.request.getproxies():
        session.trust_env = True
    else:
        session.trust_env = False
    rest = dict(options or {})
    timeouts = {
        name: rest.pop(name) for name in ("connection_timeout", "read_timeout") if name in rest
    }
    transport = RequestsTransport(session=session, session_owner=False, **timeouts)
    return {"transport": transport, **rest}
