"""The Azure Functions app: creates the FunctionApp and registers the blueprints.

In Azure it also checks the settings first (see shared/hosting.py), so local-only values stop the
app at start with a message naming them.

Everything else lives in the ``shared`` package; see README.md for the layout.
"""

import azure.functions as func

from shared.hosting import running_in_azure
from shared.http.routes import all_blueprints
from shared.observability.logs import install_redaction

install_redaction()
if running_in_azure():
    # Refuse local-only settings (SECRET_STORE=local, AUTH_MODE=local, simulator URLs...) when
    # the app starts, naming them, rather than at the first request. Reads environment only.
    from shared.settings import get_settings

    get_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in all_blueprints():
    app.register_blueprint(blueprint)
