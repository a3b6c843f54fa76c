"""The HTTP layer: blueprints that parse a request, call the core and map results to HTTP.

This is the only place (with ``function_app.py``) that imports ``azure.functions``.
"""
