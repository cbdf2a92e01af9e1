"""Replies received by SMS, read from a CSV export: which ones ask to stop the messages.

A reply is an opt-out request when its whole text, once accents, case, punctuation and extra
spaces are set aside, is one of :data:`STOP_WORDS` (``STOP``, ``Arrêt``, ``stop sms!``,
``Désabonner``...). A longer text that merely contains such a word ("je ne veux pas arrêter")
is not read as one: a person reads those.

Example:
    >>> is_stop_reply("  Arrêt. "), is_stop_reply("STOP SMS"), is_stop_reply("Merci, stop ?")
    (True, True, False)
"""

from __future__ import annotations

import csv
import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = [
    "PHONE_COLUMNS",
    "STOP_WORDS",
    "TEXT_COLUMNS",
    "Reply",
    "fold",
    "is_stop_reply",
    "read_replies",
]

#: Whole replies that ask to stop, folded (see :func:`fold`): the usual carrier keywords in
#: English and French.
STOP_WORDS: Final[frozenset[str]] = frozenset(
    {
        "stop",
        "stop sms",
        "stopsms",
        "stop all",
        "stopall",
        "arret",
        "arret sms",
        "arreter",
        "unsubscribe",
        "desabonner",
        "desabonnement",
        "desinscrire",
        "desinscription",
        "cancel",
        "end",
        "quit",
        "opt out",
        "optout",
    }
)
#: Header names (folded, without spaces) read as the phone number and the text of a reply.
PHONE_COLUMNS: Final[tuple[str, ...]] = (
    "phone",
    "phonenumber",
    "number",
    "numero",
    "msisdn",
    "mobile",
    "telephone",
    "tel",
    "from",
    "sender",
    "expediteur",
    "recipient",
)
TEXT_COLUMNS: Final[tuple[str, ...]] = (
    "message",
    "text",
    "texte",
    "body",
    "content",
    "contenu",
    "reply",
    "reponse",
)
_NOT_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """``text`` without accents, case or punctuation, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", bare.casefold()).strip()


def is_stop_reply(text: str) -> bool:
    """Whether the whole reply asks to stop the messages (see :data:`STOP_WORDS`)."""
    return fold(text) in STOP_WORDS


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """One row of a replies CSV: its line number (the header is line 1), number and text."""

    line: int
    phone: str
    text: str


def _column(fieldnames: list[str], wanted: str | None, known: tuple[str, ...], what: str) -> str:
    by_folded = {fold(name).replace(" ", ""): name for name in fieldnames}
    if wanted is not None:
        found = by_folded.get(fold(wanted).replace(" ", ""))
    else:
        found = next((by_folded[k] for k in known if k in by_folded), None)
    if found is None:
        raise ValueError(
            f"no {what} column{f' named {wanted!r}' if wanted else ''} in the CSV; its columns "
            f"are {fieldnames}" + ("" if wanted else f"; expected one of {list(known)}")
        )
    return found


def read_replies(
    path: str | Path, *, phone_column: str | None = None, text_column: str | None = None
) -> Iterator[Reply]:
    """The replies of a CSV file with a header row, read lazily.

    The delimiter (comma, semicolon or tab) is detected; a UTF-8 byte-order mark is ignored;
    blank lines are skipped. The columns are found by name (``phone``, ``numero``, ``from``...
    and ``message``, ``text``, ``texte``...), or given.

    Raises:
        ValueError: when the file has no header or no phone or text column.
    """
    with Path(path).open(newline="", encoding="utf-8-sig") as file:
        sample = file.read(64 * 1024)
        file.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(file, dialect=dialect)
        if not reader.fieldnames:
            raise ValueError(f"{path} is empty: a header row is needed")
        fieldnames = list(reader.fieldnames)
        phone = _column(fieldnames, phone_column, PHONE_COLUMNS, "phone number")
        text = _column(fieldnames, text_column, TEXT_COLUMNS, "message text")
        for row in reader:
            yield Reply(reader.line_num, (row.get(phone) or "").strip(), row.get(text) or "")
