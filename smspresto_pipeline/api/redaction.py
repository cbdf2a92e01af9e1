"""Scrub the account's key and password from text before it is logged or put in an error.

The API authenticates with ``user`` (the key) and ``pass`` (the password) in every request.
POST keeps both out of URLs, but a GET puts them in the query string, and any text we build
from an answer or an exception (an excerpt of a body, an httpx error) could echo them back.
Everything the client logs or raises goes through a :class:`Redactor` first.
"""

from __future__ import annotations

import html
import json
import logging
import re
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "Redactor", "install_httpx_log_filter", "mask"]

REDACTED = "***"

# `pass=...` / `user=...` in a query string, whatever the value: covers URLs logged by httpx
# for GET requests even when the secret itself is not known to the code doing the logging.
_CREDENTIAL_PARAM = re.compile(r"(?P<name>(?:^|[?&;])(?:pass|user)=)[^&#\s\"'>]*")


def mask(value: str) -> str:
    """Show a secret-ish identifier (the API key) in a repr without giving it away.

    Example:
        >>> mask("SP22558371758")
        'SP…58'
    """
    if len(value) < 8:
        return REDACTED
    return f"{value[:2]}…{value[-2:]}"


class Redactor:
    """Replaces every known secret, in every form a server may echo it, with ``***``.

    Example:
        >>> r = Redactor("s3cret pass")
        >>> r("GET /?user=k&pass=s3cret+pass failed")
        'GET /?user=***&pass=*** failed'
    """

    __slots__ = ("_secrets",)

    def __init__(self, *secrets: str) -> None:
        forms = {form for secret in secrets if secret for form in _encoded_forms(secret)}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """Return ``text`` without any secret and without credential query parameters."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _CREDENTIAL_PARAM.sub(rf"\g<name>{REDACTED}", text)

    def including(self, *secrets: str) -> Redactor:
        """A redactor of this one's secrets and ``secrets``."""
        combined = Redactor(*secrets)
        forms = {*self._secrets, *combined._secrets}
        combined._secrets = tuple(sorted(forms, key=len, reverse=True))
        return combined

    def excerpt(self, text: str, limit: int = 120) -> str:
        """A short, single-line, redacted excerpt of a response body, for error messages."""
        flat = " ".join(self(text).split())
        return flat if len(flat) <= limit else f"{flat[:limit]}…"


_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _encoded_forms(secret: str) -> set[str]:
    """Every form in which a server may echo ``secret``: raw, URL-encoded (``%20`` and ``+``,
    upper- and lower-case hex), HTML-escaped (named and numeric entities) and JSON-escaped."""
    url = {quote(secret, safe=""), quote_plus(secret, safe="")}
    url |= {_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), form) for form in url}
    markup = {html.escape(secret), html.escape(secret, quote=False)}
    markup |= {form.encode("ascii", "xmlcharrefreplace").decode("ascii") for form in markup}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    escaped |= {form.replace("/", "\\/") for form in escaped}  # PHP's json_encode escapes /
    return {secret} | url | markup | escaped


class _CredentialParamFilter(logging.Filter):
    """Rewrites log records so that ``pass=`` and ``user=`` query values, and the secrets it
    was given (a webhook's URL), never reach a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.secrets(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_HTTPX_FILTER = _CredentialParamFilter()


def install_httpx_log_filter(*secrets: str) -> None:
    """Scrub credentials from httpx's own request log (``HTTP Request: GET <url>``).

    httpx logs every request URL at INFO on the ``httpx`` logger. For GET the reference
    requires the password in the query string, so without this filter an application that
    logs at INFO would write the password to its logs. ``secrets`` are scrubbed too, from then
    on (a webhook's URL is a credential in its path). Idempotent.
    """
    if secrets:
        _HTTPX_FILTER.secrets = _HTTPX_FILTER.secrets.including(*secrets)
    logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in logger.filters:
        logger.addFilter(_HTTPX_FILTER)
