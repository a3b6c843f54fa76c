"""The Azure Functions app: creates the FunctionApp and registers the blueprints. Nothing else.

Everything else lives in the ``shared`` package; see README.md for the layout.
"""

import azure.functions as func

from shared.http.routes import all_blueprints
from shared.observability.logs import install_redaction

install_redaction()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in all_blueprints():
    app.register_blueprint(blueprint)
