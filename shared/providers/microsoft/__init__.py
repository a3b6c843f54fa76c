"""Microsoft adapter: Entra ID sign-in with msal (:mod:`.auth`), Microsoft Graph calendars over
httpx (:mod:`.graph_http` for transport, retries and error mapping, :mod:`.calendar` for the
:class:`~shared.providers.base.CalendarClient`, :mod:`.mapping` for Graph JSON <-> value types).

Import the submodules directly; this package imports nothing so that loading the app stays cheap.
"""
