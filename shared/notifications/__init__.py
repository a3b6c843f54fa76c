"""Notifications to the host app: an ordered feed per organisation."""
