"""A plain, self-contained HTML page explaining a diagnosis.

Shown when an OAuth callback fails and there is no ``return_to`` to send the browser back to.
The page carries its own small stylesheet (no external resources: it must render whatever the
network allows), uses semantic markup (``main``, headings, an ordered list of steps, a native
``details`` element for the provider's raw text) and escapes every dynamic value, including
the provider's text, which an attacker can influence through the callback's query string.
"""

from __future__ import annotations

from html import escape
from typing import Final, Literal

from shared.diagnostics.catalogue import Diagnosis

Audience = Literal["user", "admin"]

_STYLE: Final = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.5;"
    "margin:0;color:#1b1b1b;background:#f6f6f6}"
    "main{max-width:42rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;"
    "border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}"
    "h1{font-size:1.5rem;margin-top:0}h2{font-size:1.1rem}"
    "pre{white-space:pre-wrap;word-break:break-word;background:#f0f0f0;padding:.75rem}"
    ".code{font-family:ui-monospace,monospace}a{color:#0b57d0}"
)


def render_error_page(diagnosis: Diagnosis, *, audience: Audience) -> str:
    """A complete HTML document for ``diagnosis``.

    ``audience="user"`` shows the end user's message and whom to contact; ``"admin"`` shows the
    admin message and the numbered fix steps. Both end with the stable code and the provider's
    raw text and details inside a collapsed ``<details>`` element. Every value is HTML-escaped.
    """
    if audience not in ("user", "admin"):
        raise ValueError(f"audience must be 'user' or 'admin', not {audience!r}")
    d = diagnosis
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>{escape(d.title)}</title><style>{_STYLE}</style></head>",
        '<body><main aria-labelledby="title">',
        f'<h1 id="title">{escape(d.title)}</h1>',
    ]
    if audience == "user":
        parts.append(f'<p id="message">{escape(d.user_message)}</p>')
    else:
        parts.append(f'<p id="message">{escape(d.admin_message)}</p>')
        steps = "".join(f"<li>{escape(step)}</li>" for step in d.fix)
        parts.append(f'<h2 id="fix">How to fix it</h2><ol aria-labelledby="fix">{steps}</ol>')
        parts.append(
            f'<p>More information: <a href="{escape(d.learn_more)}" rel="noopener noreferrer">'
            f"{escape(d.learn_more)}</a></p>"
        )
    parts.append(f'<p id="contact"><strong>Who can fix this:</strong> {escape(d.contact)}</p>')
    parts.append(_technical(d))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _technical(d: Diagnosis) -> str:
    rows = [("Error code", d.code)]
    rows += sorted((k, v) for k, v in d.details.items() if k not in ("raw",))
    items = "".join(f'<dt>{escape(k)}</dt><dd class="code">{escape(v)}</dd>' for k, v in rows)
    raw = f"<h2>What the provider said</h2><pre>{escape(d.raw)}</pre>" if d.raw else ""
    return (
        "<details><summary>Technical details (share these with whoever helps you)</summary>"
        f"<dl>{items}</dl>{raw}</details>"
    )
