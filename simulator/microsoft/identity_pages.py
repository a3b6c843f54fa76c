"""HTML pages of the simulated sign-in: usable by a person in a browser and by tests over HTTP.

Every page holds one ``<form method="post">`` per choice, marked ``data-sim-form="<name>"``, with
a hidden ``flow`` field and the submit button's ``name="action" value="..."``, so that
:meth:`simulator.client.SimulatorClient.microsoft_sign_in` can drive the flow by parsing the
forms, as a browser would. The wording follows what Entra ID shows ("Permissions requested",
"Consent on behalf of your organization", "Need admin approval").
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

# Texts Entra shows on the consent screen for the permissions this product asks for.
PERMISSION_TEXT = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
    "User.Read": "Sign you in and read your profile",
    "User.Read.All": "Read all users' full profiles",
    "Calendars.Read": "Read your calendars",
    "Calendars.ReadWrite": "Have full access to your calendars",
    "Place.Read.All": "Read all company places",
}

_STYLE = (
    "body{font-family:Segoe UI,Arial,sans-serif;background:#f2f2f2}"
    "main{background:#fff;max-width:440px;margin:60px auto;padding:32px;"
    "box-shadow:0 2px 6px rgba(0,0,0,.2)}button{margin:8px 8px 0 0;padding:6px 18px}"
    ".error{color:#c00}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><main><h1>{escape(title)}</h1>{body}</main>"
        "</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _form(name: str, action: str, flow_id: str, inner: str) -> str:
    return (
        f"<form method='post' action='{escape(action)}' data-sim-form='{name}'>"
        f"<input type='hidden' name='flow' value='{escape(flow_id)}'>{inner}</form>"
    )


def _permissions(scopes: list[str]) -> str:
    items = "".join(
        f"<li data-permission='{escape(s)}'>{escape(PERMISSION_TEXT.get(s, s))}"
        f" <small>({escape(s)})</small></li>"
        for s in scopes
    )
    return f"<ul>{items}</ul>"


def sign_in_page(
    action: str, flow_id: str, app_name: str, login_hint: str, error: str | None = None
) -> HTMLResponse:
    """The account picker: type an email (prefilled from ``login_hint``)."""
    message = f"<p class='error'>{escape(error)}</p>" if error else ""
    inner = (
        f"<p>to continue to <b>{escape(app_name)}</b></p>{message}"
        f"<input type='email' name='email' value='{escape(login_hint)}' "
        "placeholder='Email, phone, or Skype' required autofocus>"
        "<button type='submit' name='action' value='signin'>Next</button>"
    )
    return _page("Sign in", _form("signin", action, flow_id, inner))


def consent_page(
    action: str,
    flow_id: str,
    app_name: str,
    upn: str,
    scopes: list[str],
    *,
    offer_org_consent: bool,
    admin_consent: bool = False,
) -> HTMLResponse:
    """ "Permissions requested", with Accept/Cancel and, for admins, consent for everyone."""
    org = ""
    if offer_org_consent:
        org = (
            "<label><input type='checkbox' name='consent_for_org' value='true'> "
            "Consent on behalf of your organization</label><br>"
        )
    lead = (
        "<p>This app would like to (for everyone in your organization):</p>"
        if admin_consent
        else "<p>This app would like to:</p>"
    )
    inner = (
        f"<p>{escape(upn)}</p><p><b>{escape(app_name)}</b></p>{lead}{_permissions(scopes)}{org}"
        "<button type='submit' name='action' value='accept'>Accept</button>"
        "<button type='submit' name='action' value='cancel'>Cancel</button>"
    )
    return _page(
        "Permissions requested" + (" - Review for your organization" if admin_consent else ""),
        _form("consent", action, flow_id, inner),
    )


def approval_page(
    action: str, flow_id: str, app_name: str, upn: str, scopes: list[str], *, can_request: bool
) -> HTMLResponse:
    """ "Need admin approval": request approval (admin consent workflow) or go back."""
    request = ""
    if can_request:
        request = (
            "<p>Enter justification for requesting this app</p>"
            "<textarea name='justification'></textarea><br>"
            "<button type='submit' name='action' value='request'>Request approval</button>"
        )
    inner = (
        f"<p>{escape(upn)}</p><p><b>{escape(app_name)}</b> needs permission to access "
        "resources in your organization that only an admin can grant. Please ask an admin to "
        f"grant permission to this app before you can use it.</p>{_permissions(scopes)}"
        f"{request}<p>Have an admin account? Sign in with that account.</p>"
        "<button type='submit' name='action' value='return'>"
        "Return to the application without granting consent</button>"
    )
    return _page("Need admin approval", _form("approval", action, flow_id, inner))


def request_sent_page(action: str, flow_id: str, app_name: str) -> HTMLResponse:
    inner = (
        f"<p>Your request to use <b>{escape(app_name)}</b> has been sent to your admin. You "
        "will be notified by email when it is reviewed.</p>"
        "<button type='submit' name='action' value='return'>Return to the application</button>"
    )
    return _page("Approval required", _form("request-sent", action, flow_id, inner))


def error_page(description: str, status: int = 400) -> HTMLResponse:
    """Entra's own error page, for requests it cannot send back to the app."""
    body = (
        "<p>Sorry, but we're having trouble signing you in.</p>"
        f"<p class='error' data-sim-error>{escape(description)}</p>"
    )
    return _page("Sign in", body, status)


def form_post_page(redirect_uri: str, params: dict[str, str]) -> HTMLResponse:
    """``response_mode=form_post``: an auto-submitting form to the redirect URI."""
    fields = "".join(
        f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in params.items()
    )
    html = (
        "<!doctype html><html><head><title>Working...</title></head>"
        "<body onload='document.forms[0].submit()'>"
        f"<form method='post' action='{escape(redirect_uri)}' data-sim-form='form_post'>"
        f"{fields}<noscript><button type='submit'>Continue</button></noscript></form>"
        "</body></html>"
    )
    return HTMLResponse(html)
