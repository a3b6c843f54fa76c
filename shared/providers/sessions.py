"""``requests`` sessions with a deadline on every call, for the libraries that use ``requests``.

msal builds its requests without a timeout (its own default session gets one only through a
constructor argument that a caller-supplied session bypasses), and google-auth's token refresh
asks for 120 s. A :class:`BoundedSession` gives every request the configured connect and read
timeouts, and lowers a longer one a library asks for, so a hung token endpoint fails fast.
"""

from __future__ import annotations

from typing import Any

import requests

# Used where no settings reach the constructor (an app-only auth built by a caller that has
# none); the same values as the settings' defaults.
DEFAULT_TIMEOUTS = (5.0, 20.0)
# ``Session.request(method, url, params, data, headers, cookies, files, auth, timeout, ...)``
_TIMEOUT_POSITION = 6


def _bounded(given: Any, limits: tuple[float, float]) -> tuple[float, float]:
    connect, read = limits
    if given is None:
        return limits
    if isinstance(given, tuple):
        want_connect, want_read = given
        return (
            connect if want_connect is None else min(float(want_connect), connect),
            read if want_read is None else min(float(want_read), read),
        )
    return (min(float(given), connect), min(float(given), read))


class BoundedSession(requests.Session):
    """A session whose every request has at most ``timeouts`` (connect, read) seconds."""

    def __init__(self, timeouts: tuple[float, float] = DEFAULT_TIMEOUTS) -> None:
        super().__init__()
        self.timeouts = timeouts

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if len(args) > _TIMEOUT_POSITION:
            positional = list(args)
            positional[_TIMEOUT_POSITION] = _bounded(positional[_TIMEOUT_POSITION], self.timeouts)
            return super().request(method, url, *positional, **kwargs)
        kwargs["timeout"] = _bounded(kwargs.get("timeout"), self.timeouts)
        return super().request(method, url, *args, **kwargs)
