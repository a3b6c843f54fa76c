"""Local development tooling: a small Azure Functions host and the Azurite runner.

Nothing in this package is deployed; Azure runs the real Functions host. It exists because
Azure Functions Core Tools cannot be installed offline (its npm package downloads the host from
a CDN), so ``make run`` and the end-to-end tests need a host of their own.
"""
