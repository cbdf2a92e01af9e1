"""Errors raised by smspresto-pipeline.

The tree::

    SMSPrestoError                  base; .code, .api_message, .action, .http_status
    ├── AuthenticationError         API codes 1, 10, 11
    ├── InvalidSenderError          API codes 100, 101
    ├── InvalidRecipientError       API code 102
    ├── InvalidMessageError         API code 103
    ├── TransientError              5xx, 429, timeouts, connection errors (reads retry these)
    ├── AmbiguousSendError          a send may or may not have been accepted: never resend blindly
    ├── ProtocolError               an answer that is not what the reference documents
    └── SMSValidationError          bad input caught locally, before any request (also ValueError)

Codes the reference does not document become a plain `SMSPrestoError` carrying the code.
The one place that maps an API status code to a class is `error_for_status`.

No error text ever holds the account password: messages are built from our own words, the
API's message and short, redacted excerpts of bodies.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousSendError",
    "AuthenticationError",
    "InvalidMessageError",
    "InvalidRecipientError",
    "InvalidSenderError",
    "ProtocolError",
    "SMSPrestoError",
    "SMSValidationError",
    "TransientError",
    "error_for_status",
]


class SMSPrestoError(Exception):
    """Raised when the SMS Presto API refuses a request; the base of every error here.

    Attributes:
        code: the API's numeric ``status`` when it gave one, else ``None``.
        api_message: the API's own ``message`` text, if any.
        action: the API action (``sendsms``, ``list-archive`` ...) the request was for.
        http_status: the HTTP status of the answer, when there was an answer.
        sent: for a send that failed part-way through its batches, the recipients of the
            batches the API accepted before the failure (empty otherwise).
        not_attempted: for such a send, the recipients of the batches never requested.
            The failed batch's own recipients are in neither: refused, or for an
            `AmbiguousSendError` listed in its ``recipients``.
    """

    sent: tuple[str, ...] = ()
    not_attempted: tuple[str, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        api_message: str | None = None,
        action: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.api_message = api_message
        self.action = action
        self.http_status = http_status

    def __str__(self) -> str:
        text = super().__str__()
        details = []
        if self.action is not None:
            details.append(f"action={self.action}")
        if self.code is not None:
            details.append(f"code={self.code}")
        if self.http_status is not None:
            details.append(f"http_status={self.http_status}")
        return f"{text} ({', '.join(details)})" if details else text


class AuthenticationError(SMSPrestoError):
    """Raised when the API rejects the key or password (codes 1, 10, 11)."""


class InvalidSenderError(SMSPrestoError):
    """Raised when the API rejects the sender name or its length (codes 100, 101)."""


class InvalidRecipientError(SMSPrestoError):
    """Raised when the API rejects a recipient number (code 102)."""


class InvalidMessageError(SMSPrestoError):
    """Raised when the API rejects the message text (code 103)."""


class TransientError(SMSPrestoError):
    """Raised when the API is temporarily unavailable: 5xx, 429, timeouts, connection errors.

    Reads retry these before raising. ``retry_after`` holds the server's hint in seconds.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AmbiguousSendError(SMSPrestoError):
    """Raised when a send may have been accepted but its answer was lost.

    The request reached the server (or may have), so it is never retried: resolve it against
    the archive (``list-archive``) before sending again. ``recipients`` lists the numbers of
    the batch whose fate is unknown.
    """

    def __init__(self, message: str, *, recipients: tuple[str, ...] = (), **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.recipients = recipients


class ProtocolError(SMSPrestoError):
    """Raised when an answer is not in a documented shape (HTML, truncated JSON, wrong type)."""


class SMSValidationError(SMSPrestoError, ValueError):
    """Raised before any request when a number, sender or text cannot be sent.

    ``problems`` lists every problem found, one readable line each.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


_CODE_TO_CLASS: dict[int, type[SMSPrestoError]] = {
    1: AuthenticationError,
    10: AuthenticationError,
    11: AuthenticationError,
    100: InvalidSenderError,
    101: InvalidSenderError,
    102: InvalidRecipientError,
    103: InvalidMessageError,
}


def error_for_status(
    code: int,
    api_message: str | None,
    *,
    action: str,
    http_status: int | None = None,
) -> SMSPrestoError:
    """Build the error for a non-zero API ``status``: the one mapping from codes to classes."""
    cls = _CODE_TO_CLASS.get(code, SMSPrestoError)
    text = api_message or "SMS Presto returned an error"
    return cls(
        f"SMS Presto refused {action}: {text}",
        code=code,
        api_message=api_message,
        action=action,
        http_status=http_status,
    )
