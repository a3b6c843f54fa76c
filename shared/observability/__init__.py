"""Logging with correlation ids and redaction of credentials."""
