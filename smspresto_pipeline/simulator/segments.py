"""A small SMS segment counter, local to the simulator (it must not depend on the library).

GSM-7 texts take 160 characters in one segment and 153 per segment when split; characters of
the GSM-7 extension table (``€ [ ] { } ^ ~ | \\``) count twice. Any other character makes the
whole text UCS-2: 70 UTF-16 code units in one segment, 67 per segment when split. Splitting is
approximated (a segment boundary may fall inside an escape or a surrogate pair), which is
close enough to bill the simulated stock.
"""

import re

__all__ = ["count_segments"]

_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = "\f^{}\\[~]|€"
_NOT_GSM7 = re.compile("[^" + re.escape(_GSM7_BASIC + _GSM7_EXTENSION) + "]")
_EXTENSION = re.compile("[" + re.escape(_GSM7_EXTENSION) + "]")


def count_segments(text: str) -> int:
    """Return how many SMS segments ``text`` is billed as (at least 1)."""
    if _NOT_GSM7.search(text) is None:
        units = len(text) + len(_EXTENSION.findall(text))
        single, multi = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)
