"""SMS rules, no I/O: phone numbers, texts and senders, checked before anything costs money.

* ``rules``: one number in E.164 (validity, country, carrier, the 2021 Ivorian renumbering),
  GSM-7/UCS-2 segments, sender names; its names are exported here.
* ``numbering``: the same number rules column-wise, for a page of history or a campaign's rows
  at once (``phonenumbers``' metadata compiled into RE2 patterns), and
  :func:`~smspresto_pipeline.sms.numbering.recipient_details`, how a history row's number is
  stored. It loads Arrow: import it where it is used, so that importing this package stays
  cheap.
* ``arrow``: the Arrow memory pool the column-wise work shares (here and in the warehouse).

Example:
    >>> normalize_number("07 08 08 14 88")
    '+2250708081488'
    >>> describe_text("Bonjour à tous").encoding
    'GSM-7'
"""

from smspresto_pipeline.sms.rules import (
    CI_LEGACY_MOBILE_PREFIX,
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    SegmentInfo,
    count_segments,
    describe_text,
    migrate_legacy_ci,
    normalize_number,
    normalize_recipients,
    number_info,
    validate_message,
    validate_send,
    validate_sender,
)

__all__ = [
    "CI_LEGACY_MOBILE_PREFIX",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Encoding",
    "SegmentInfo",
    "count_segments",
    "describe_text",
    "migrate_legacy_ci",
    "normalize_number",
    "normalize_recipients",
    "number_info",
    "validate_message",
    "validate_send",
    "validate_sender",
]
