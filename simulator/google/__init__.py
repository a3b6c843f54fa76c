"""The simulated Google side: OAuth, Calendar v3, Admin directory, push channels, Workspace policy.

See :mod:`simulator.google.routes` for the URL map and :mod:`simulator.google.client` for the
control client tests use.
"""
