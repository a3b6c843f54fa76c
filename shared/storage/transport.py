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
from typing import Any

POOL_SIZE = 64


def client_kwargs() -> dict[str, Any]:
    """Keyword arguments for an Azure SDK client: a transport without per-request proxy
    lookups, or nothing (the SDK's default) when the environment configures a proxy."""
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
    return {"transport": RequestsTransport(session=session, session_owner=False)}
