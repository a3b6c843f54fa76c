"""Simulated Microsoft Graph v1.0: users, calendar events, delta, subscriptions, $batch, places.

Served under ``{simulator}/graph/v1.0`` (see :mod:`simulator.microsoft.graph.routes`); the control
API for tests lives under ``{simulator}/_sim/graph`` (:mod:`simulator.microsoft.graph.control`,
client :class:`simulator.microsoft.graph.client.GraphControl`).
"""
