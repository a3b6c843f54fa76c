"""The Azure Functions app: the functions of ``shared/function_index.json``, nothing else.

Each function's module is imported on its first invocation (:mod:`shared.function_index`), so a
new instance starts by importing little more than ``azure.functions``. The blueprints themselves
live in ``shared.http.routes`` and ``shared.triggers``; see README.md for the layout.
"""

from shared.function_index import lazy_app
from shared.observability.logs import install_redaction

install_redaction()

app = lazy_app()
