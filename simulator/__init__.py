"""A local stand-in for Microsoft 365, Google Workspace and Azure Key Vault.

Development and test tooling only, never deployed. It serves, over HTTPS on loopback with a CA it
generates, the parts of the Microsoft identity platform, Microsoft Graph, Google OAuth, Google
Calendar, the Google Admin directory and Key Vault that the service uses, faithfully enough for
the unmodified client libraries (msal, google-auth, google-auth-oauthlib,
google-api-python-client, azure-keyvault-secrets, httpx). The service is pointed at it by settings
only (authority host, API base URLs, CA bundle): product code has no simulator branches.

Layout::

    world.py            the simulated world: shared state, lock, clock, seeded randomness
    certs.py            the CA and the server certificate
    server.py           the Starlette app and a uvicorn server that runs it (thread or CLI)
    tokens.py           signing keys and JWTs (id tokens, access tokens) with JWKS
    faults.py           fault and load knobs (latency, 429, 503, resets, timeouts, concurrency)
    control.py          the control API under /_sim (tenants, users, rooms, policies, changes)
    client.py           a Python helper over the control API for tests and demos
    microsoft/          identity platform (directory.py, identity.py) and Graph (graph/)
    google/             OAuth, Calendar v3, Admin directory, push channels
    keyvault.py         Key Vault secrets REST subset with the challenge-auth flow
"""
