"""What a failed Alyx request means, as an ``AlyxError`` whose text fits on one line.

Shared by the client (GET, login) and the download, which fail in the same ways: Alyx out of
reach, a URL httpx refuses, an error page (Django's HTML, a proxy's, or Alyx's JSON ``detail``).
"""

from __future__ import annotations

import html
import json
import re

import httpx

from one_tui.engine.core import bounded
from one_tui.engine.core.errors import AlyxConnectionError, AlyxError
from one_tui.engine.core.spec import one_line, shown

__all__ = ["bad_url", "body_line", "error_detail", "unreachable"]


def body_line(text: str, limit: int = 200) -> str:
    """A response body as one short line: the HTML <title> or tag-stripped text, truncated.

    An error page can be a whole HTML document (Django's debug page, a proxy's 502): its title
    says what happened and fits in a status line; the rest would not.
    """
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(html.unescape(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_detail(response: httpx.Response) -> str:
    """Alyx's JSON ``detail`` (or the JSON body minus status_code), else one line of text."""
    try:
        body = bounded.loads(response.content)  # an error page nested 100,000 deep too
    except ValueError:  # UnicodeDecodeError and bounded.TooDeep included
        return body_line(response.text)
    if isinstance(body, dict):
        body.pop("status_code", None)
        detail = body.get("detail") or body
        return detail if isinstance(detail, str) else body_line(json.dumps(detail))
    return body_line(json.dumps(body))


def bad_url(url: str, exc: Exception) -> AlyxError:
    """httpx refuses a URL (a bad --base-url, or a ``next``/``location`` Alyx sent)."""
    return AlyxError(f"Cannot request {shown(url, 200)}: {one_line(exc)}")


def unreachable(base_url: str) -> AlyxConnectionError:
    """Alyx did not answer at all (DNS, refused, timeout, TLS): ONE's words for it."""
    return AlyxConnectionError(
        f"Can't connect to {base_url}. Check your network connection and Alyx database firewall"
    )
