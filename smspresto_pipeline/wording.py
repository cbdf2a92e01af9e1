"""Counts in words: how every message shown to a person says "1 message" and "2 messages".

The command line, the sensors' skip reasons, run logs, check descriptions and errors build
their counts with :func:`plural`, so none says "1 messages" or "message(s)". English only: the
texts sent by SMS are the campaigns' own templates, in their own language.

Example:
    >>> plural(1, "message")
    '1 message'
    >>> plural(0, "message")
    '0 messages'
    >>> plural(200_000, "message")
    '200,000 messages'
    >>> plural(2, "batch", "batches")
    '2 batches'
    >>> f"{plural(1, 'day')} before {plural(3, 'held row')}"
    '1 day before 3 held rows'
"""

__all__ = ["plural"]


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless ``count`` is 1.

    Args:
        count: how many; written with thousands separators.
        noun: the singular (``"message"``, ``"opted-out number"``: the last word changes).
        plural_noun: the plural when it is not ``noun + "s"`` (``"batches"``, ``"replies"``).
    """
    word = noun if count == 1 else plural_noun or f"{noun}s"
    return f"{count:,} {word}"
