"""The Azure Functions app: the functions of ``shared/function_index.json``, nothing else.

Each function's module is imported on its first invocation (:mod:`shared.function_index`), so a
new instance starts by importing little more than ``azure.functions``. The blueprints themselves
live in ``shared.http.routes`` and ``shared.triggers``; see README.md for the layout.

In Azure the settings are checked first (:mod:`shared.hosting`): local-only values stop the app
at start, with a message naming each one, rather than at its first request.
"""

from shared.function_index import lazy_app
from shared.hosting import running_in_azure
from shared.observability.logs import install_redaction

install_redaction()
if running_in_azure():
    from shared.settings import get_settings

    get_settings()

app = lazy_app()
