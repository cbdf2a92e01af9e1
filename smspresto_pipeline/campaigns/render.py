"""Turning a campaign's template and one query row into the text that is sent.

Templates are compiled once (:func:`compile_template`, cached by source) in a Jinja2
``ImmutableSandboxedEnvironment`` (a ``SandboxedEnvironment`` that also forbids changing
values): a template cannot reach Python internals (``{{ ''.__class__ }}`` raises
``jinja2.exceptions.SecurityError``) nor modify the row's values. Autoescaping is off, since
an SMS is plain text, and undefined names are errors (``StrictUndefined``), never blanks.

The columns a template names are known before any row is rendered
(:attr:`CompiledTemplate.variables`), so a template naming a column the query does not return
is refused for the whole batch before anything is sent.

NULL values: a column that is NULL in a row is neither printed as ``None`` nor as an empty
string. Printing it fails that row (the row is skipped, naming the column), while a template
can handle it explicitly: ``{{ first_name or "client" }}``,
``{{ first_name | default("client") }}``, ``{% if first_name %}...{% endif %}`` and
``{% if first_name is none %}`` all work. Any other expression that gives ``None`` fails the
row the same way. A text sent to a customer with a hole where their
name or amount should be is worse than no text.

Smart encoding (:func:`smart_encode`): typographic quotes, dashes, the ellipsis, unusual spaces
and invisible characters are mapped to their GSM-7 equivalents. One such character forces the
whole text into UCS-2 (70 characters a part instead of 160), so a pasted apostrophe can triple a
bill. :func:`encode_text` applies it only when it saves at least one segment. Accented letters
that GSM-7 lacks (``ê``, ``ç``) are left alone: they change the words, not the typography.

Example:
    >>> compiled = compile_template(
    ...     "Bonjour {{ first_name or 'client' }}, votre solde est de {{ balance }} F."
    ... )
    >>> sorted(compiled.variables)
    ['balance', 'first_name']
    >>> compiled.render({"first_name": None, "balance": 1500})
    'Bonjour client, votre solde est de 1500 F.'
    >>> smart_encode("C\\u2019est l\\u2019heure \\u2014 venez\\u2026")
    "C'est l'heure - venez..."
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import SegmentInfo, describe_text

__all__ = [
    "SMART_REPLACEMENTS",
    "CompiledTemplate",
    "NullValue",
    "compile_template",
    "encode_text",
    "smart_encode",
]


class NullValue(Undefined):
    """A NULL column in a row: false in tests and replaced by ``default``; printing it fails."""

    __slots__ = ()
    __iter__ = __str__ = __len__ = __contains__ = Undefined._fail_with_undefined_error


def _is_none(value: object) -> bool:
    return value is None or isinstance(value, NullValue)


def _finalize(value: object) -> object:
    # A None that is not a column (a method's result, dict.get) must not print as "None" either.
    if value is None:
        raise UndefinedError("an expression gave None: give it a fallback ({{ x or '...' }})")
    return value


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize,
    )
    env.tests["none"] = _is_none
    return env


_ENV = _environment()


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A campaign's template, compiled once.

    Attributes:
        source: the template's text.
        variables: the names the template reads from a row: the columns it needs.
    """

    source: str
    variables: frozenset[str]
    _template: Any = dataclasses.field(repr=False, compare=False)
    # The template's globals (Jinja's ``range``, ``cycler`` ...) as a plain dict: Jinja would
    # merge its chained globals into every row's context, the bulk of a short render's cost.
    _globals: dict[str, Any] = dataclasses.field(repr=False, compare=False)

    def missing_columns(self, columns: Iterable[str]) -> tuple[str, ...]:
        """The names the template reads that ``columns`` lacks, sorted."""
        return tuple(sorted(self.variables.difference(columns)))

    def render(self, row: Mapping[str, object]) -> str:
        """Render one row (a mapping of column name to value; other columns are ignored).

        Raises:
            jinja2.exceptions.SecurityError: the template reached for something the sandbox
                forbids: a fault of the template, whatever the row.
            Exception: anything else the row's values cause (a NULL printed, a missing key,
                a division by zero, a type error): a fault of that row alone.
        """
        context = dict(self._globals)
        for name in self.variables:
            value = row.get(name)
            context[name] = (
                NullValue(hint=f"column {name!r} is NULL in this row", name=name)
                if value is None
                else value
            )
        # Template.render's own steps, the globals merged above (``shared``: taken as is).
        template = self._template
        try:
            text: str = _ENV.concat(template.root_render_func(template.new_context(context, True)))
        except Exception:
            _ENV.handle_exception()
        return text


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> CompiledTemplate:
    """Compile ``source`` in the sandbox; cached, so a campaign's template compiles once.

    Raises:
        SMSValidationError: naming the line and what is wrong when ``source`` is not a valid
            Jinja2 template, or when it is empty.
    """
    if not source.strip():
        raise SMSValidationError("the template is empty")
    try:
        parsed = _ENV.parse(source)
        template = _ENV.from_string(parsed)
    except TemplateSyntaxError as exc:
        lines = source.splitlines()
        where = ""
        if exc.lineno and 0 < exc.lineno <= len(lines):
            where = f": {lines[exc.lineno - 1].strip()[:80]!r}"
        raise SMSValidationError(
            f"template syntax error on line {exc.lineno}: {(exc.message or '').rstrip('.')}{where}"
        ) from None
    # Jinja leaves its globals (range, cycler ...) out: these are the row's columns.
    variables = frozenset(meta.find_undeclared_variables(parsed))
    return CompiledTemplate(
        source=source, variables=variables, _template=template, _globals=dict(template.globals)
    )


#: Characters that force UCS-2 although a GSM-7 character reads the same on a handset.
SMART_REPLACEMENTS: Mapping[str, str] = {
    # quotes and apostrophes: curly, low-9, primes, angle quotes, backtick, acute, guillemets
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2035\u2039\u203a`\u00b4\u02bc\u02b9", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb", '"'),
    # hyphens (non-breaking too), figure, en, em and small dashes, minus signs
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
    "\u2026": "...",  # ellipsis
    "\u2022": "-",  # bullet
    # spaces: no-break, narrow no-break, en quad to hair space, medium, ideographic; tab
    **dict.fromkeys("\u00a0\u202f\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007", " "),
    **dict.fromkeys("\u2008\u2009\u200a\u205f\u3000\t", " "),
    # line and paragraph separators
    "\u2028": "\n",
    "\u2029": "\n",
    # invisible: zero-width space, non-joiner, joiner, word joiner, byte-order mark, soft hyphen
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
}
_TRANSLATION = str.maketrans(dict(SMART_REPLACEMENTS))
# French guillemets carry a (no-break) space inside: « oui » becomes "oui", not " oui ".
_GUILLEMETS = re.compile("\u00ab[ \u00a0\u202f]*|[ \u00a0\u202f]*\u00bb")


def smart_encode(text: str) -> str:
    """``text`` with typographic characters replaced by their GSM-7 look-alikes."""
    return _GUILLEMETS.sub('"', text).translate(_TRANSLATION)


def encode_text(text: str, *, smart_encoding: bool) -> tuple[str, SegmentInfo, int]:
    """The text to send, how it is billed, and the segments smart encoding saved.

    With ``smart_encoding``, a UCS-2 text is replaced by :func:`smart_encode`'s version when
    that costs fewer segments; otherwise the text is sent as written.

    Example:
        >>> text, info, saved = encode_text("Venez \\u2013 merci ! " * 5, smart_encoding=True)
        >>> info.encoding, info.segments, saved
        ('GSM-7', 1, 1)
    """
    info = describe_text(text)
    if not smart_encoding or info.encoding == "GSM-7":
        return text, info, 0
    candidate = smart_encode(text)
    if candidate == text:
        return text, info, 0
    candidate_info = describe_text(candidate)
    saved = info.segments - candidate_info.segments
    if saved <= 0:
        return text, info, 0
    return candidate, candidate_info, saved
