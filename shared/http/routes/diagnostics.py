"""The diagnostics catalogue over HTTP: what a code means, who must act and how.

A consent callback sends the browser back to the host app with ``code=<catalogue code>``; the
host app looks the code up here to show the person the explanation and the fix.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from shared.diagnostics.catalogue import WhoMustAct, load_catalogue
from shared.diagnostics.service_context import service_context
from shared.errors import NotFound
from shared.http.api import ApiBlueprint, ApiRequest

bp = ApiBlueprint("diagnostics")


class DiagnosisView(BaseModel):
    code: str
    provider: str
    severity: Literal["blocks", "degrades"]
    who_must_act: WhoMustAct
    contact: str
    title: str
    user_message: str
    admin_message: str
    fix: list[str]
    learn_more: str


@bp.api(
    "diagnostics/{code}",
    name="get_diagnosis",
    auth="user",
    summary="Explain a diagnostics code: the user's and the admin's texts, who must act, the fix",
    response=DiagnosisView,
)
def get_diagnosis(request: ApiRequest) -> DiagnosisView:
    catalogue = load_catalogue()
    code = request.route["code"]
    resolved = catalogue.resolve(code)
    if resolved is None:
        raise NotFound(f"no diagnosis is known for {code!r}", code="unknown_diagnosis")
    entry = catalogue.entry(resolved)
    d = catalogue.get(resolved, **service_context(request.services.settings, entry.provider))
    return DiagnosisView(
        code=d.code,
        provider=d.provider,
        severity=d.severity,
        who_must_act=d.who_must_act,
        contact=d.contact,
        title=d.title,
        user_message=d.user_message,
        admin_message=d.admin_message,
        fix=list(d.fix),
        learn_more=d.learn_more,
    )
