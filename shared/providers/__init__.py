"""Adapters to the cloud suites: Microsoft (msal + Graph over httpx) and Google (google-auth,
google-auth-oauthlib, google-api-python-client). The core sees only :mod:`.base`.

Provider SDKs are imported inside the adapter modules, and those modules are imported lazily by
:func:`shared.providers.factory` functions, so importing the app stays cheap.
"""
