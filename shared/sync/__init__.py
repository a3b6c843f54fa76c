"""The sync engine: host-app events pushed to people's calendars, changes pulled back.

Modules: ``calendars`` (which calendars exist and how to reach them), ``people`` and
``appevents`` (the host app's people and events), ``mappings`` (which provider event carries
which host-app event for which person), ``push`` and ``pull`` (planning then acting, vdirsyncer
style), ``cursors`` and ``busy`` (incremental sync state and busy intervals), ``worker`` (one
calendar at a time under a lease), ``cycle`` (the 5-minute fan-out), ``subscriptions`` (Graph
subscriptions and Google channels), ``webhooks`` (inbound notifications), ``delivery`` (signed
outbound notifications to the host app), ``health``.
"""
