"""Consent: OAuth state, the test flow, user connections and admin consent."""
