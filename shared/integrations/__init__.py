"""Integrations: an organisation's connection to a cloud suite, and its lifecycle.

``model`` holds the records, ``repository`` their Table storage rows, ``lifecycle`` the rules of
creating, enabling, disabling and re-enabling (one suite at a time, confirmation of consequences,
the 5-day consent retention).
"""
