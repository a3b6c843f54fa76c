"""Service integrations: app-only access to a whole directory, people matched by email.

An administrator registers app credentials once (Microsoft: an app registration with application
permissions; Google: a service account with domain-wide delegation); every host-app person is
then matched to a directory user by email and synced on the same engine as workspace
connections. The core here is provider-neutral; each provider plugs in through the Protocols of
:mod:`shared.service.ports`:

* :class:`~shared.service.ports.ServiceProvider` - one per cloud suite, registered in
  :mod:`shared.service.registry`: parses and validates the credentials an admin enters, builds
  the app-only credential, the directory matcher and per-person calendar clients, and names the
  diagnostics entry of each failure;
* :class:`~shared.service.ports.AppCredential` - app-only tokens (a token source per mailbox:
  Microsoft ignores the mailbox, Google signs a JWT with ``sub`` = that person);
* :class:`~shared.service.ports.DirectoryMatcher` - emails in, matched users (immutable ids) or
  a :class:`~shared.service.model.MatchReason` out.

Stores: :mod:`.config` (the integration's non-secret settings; the credential itself is in the
secret store under the integration's prefix), :mod:`.people_map` (who is matched to which
directory user, sync on or off). Flows: :mod:`.matching`, :mod:`.check` (the setup check),
:mod:`.manager` (create, rotate, stop/start a person, delete).
"""
