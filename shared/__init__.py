"""The calendar integration service: everything that is not Azure Functions trigger wiring.

Layers, and the one direction data flows between them::

    shared.http      blueprints: parse a request, call the core, map the result or error to HTTP
    shared.core ...  integrations, consent, sync planning, retention (no Azure Functions, no HTTP)
    shared.storage   Table and Queue storage behind small interfaces
    shared.secrets   the secret store (Key Vault in Azure, an encrypted local store by default)

Importing this package does no I/O and imports no provider SDK; adapters import theirs lazily.
"""
