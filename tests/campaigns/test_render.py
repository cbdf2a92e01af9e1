"""Rendering: the sandbox, strict names, NULLs, missing columns, encodings and smart encoding."""

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from smspresto_pipeline.campaigns.render import (
    SMART_REPLACEMENTS,
    compile_template,
    encode_text,
    smart_encode,
)
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import GSM7_BASIC, GSM7_EXTENSION, describe_text


def test_the_variables_are_the_columns_the_template_reads() -> None:
    compiled = compile_template(
        "{% set greeting = 'Bonjour' %}{{ greeting }} {{ first_name | upper }}, "
        "{% for item in items %}{{ item }}{% endfor %} {{ range(2) | list }} {{ amount }}"
    )
    # set and loop variables are the template's own; range is a global
    assert compiled.variables == {"first_name", "items", "amount"}
    assert compiled.missing_columns(["first_name", "amount", "other"]) == ("items",)
    assert compiled.missing_columns(["first_name", "amount", "items"]) == ()


def test_the_template_is_compiled_once() -> None:
    assert compile_template("Hi {{ x }}") is compile_template("Hi {{ x }}")


def test_a_syntax_error_names_the_line() -> None:
    with pytest.raises(SMSValidationError, match=r"line 3: .*'Montant: {{ amount }'"):
        compile_template("Bonjour\n{{ name }}\nMontant: {{ amount }\nMerci")


def test_an_unknown_name_is_an_error_not_a_blank() -> None:
    compiled = compile_template("Bonjour {{ name }}")
    with pytest.raises(UndefinedError, match="'name' is undefined"):
        compiled._template.render({})
    assert compiled.render({"name": "Awa"}) == "Bonjour Awa"


def test_autoescape_is_off() -> None:
    assert compile_template("{{ x }}").render({"x": "<Tom & Jerry's>"}) == "<Tom & Jerry's>"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_blocks_python_internals(source: str) -> None:
    with pytest.raises(SecurityError):
        compile_template(source).render({"name": "Awa"})


def test_the_sandbox_blocks_mutating_values() -> None:
    with pytest.raises(SecurityError, match="append"):
        compile_template("{{ items.append(1) }}").render({"items": [1]})


def test_an_expression_giving_none_fails_too() -> None:
    with pytest.raises(UndefinedError, match="gave None"):
        compile_template("{{ prices.get('x') }}").render({"prices": {"y": 1}})


def test_printing_a_null_fails_naming_the_column() -> None:
    compiled = compile_template("Bonjour {{ first_name }}, {{ amount }} F")
    with pytest.raises(UndefinedError, match="column 'first_name' is NULL"):
        compiled.render({"first_name": None, "amount": 10})
    with pytest.raises(UndefinedError, match="column 'first_name' is NULL"):
        compile_template("{{ 'Bonjour ' ~ first_name }}").render({"first_name": None})


@pytest.mark.parametrize(
    "source",
    [
        "Bonjour {{ first_name or 'client' }}",
        "Bonjour {{ first_name | default('client') }}",
        "Bonjour {% if first_name %}{{ first_name }}{% else %}client{% endif %}",
        "Bonjour {% if first_name is none %}client{% else %}{{ first_name }}{% endif %}",
    ],
)
def test_a_template_can_handle_a_null(source: str) -> None:
    compiled = compile_template(source)
    assert compiled.render({"first_name": None}) == "Bonjour client"
    assert compiled.render({"first_name": "Awa"}) == "Bonjour Awa"


def test_values_keep_their_types() -> None:
    from datetime import date
    from decimal import Decimal

    compiled = compile_template(
        "{{ due.strftime('%d/%m/%Y') }} {{ '%.2f' | format(amount) }} {{ count + 1 }}"
    )
    assert compiled.render({"due": date(2025, 3, 6), "amount": Decimal("12.5"), "count": 2}) == (
        "06/03/2025 12.50 3"
    )


def test_accents_and_emoji_are_billed_as_ucs2() -> None:
    compiled = compile_template("Bonjour {{ name }}, votre reçu est prêt {{ emoji }}")
    _, info, saved = encode_text(
        compiled.render({"name": "Aïcha", "emoji": ""}), smart_encoding=True
    )
    assert (info.encoding, info.segments, saved) == ("UCS-2", 1, 0)
    assert info.non_gsm_chars == ("ï", "ç", "ê")
    long_text = compiled.render({"name": "Kouamé " * 10, "emoji": "\U0001f600"})
    assert describe_text(long_text).encoding == "UCS-2"
    assert describe_text(long_text).segments == 2  # 116 units: two parts of 67
    assert describe_text("é" * 160).encoding == "GSM-7"  # é is GSM-7


def test_smart_encode_maps_typography_to_gsm7() -> None:
    text = (
        "C\u2019est l\u2018heure\u00a0: \u201cvenez\u201d \u2014 de 9h\u201318h\u2026 "
        "\u00ab\u00a0promo\u00a0\u00bb\u200b \u2022 \u2212 5\u202f%\tfin"
    )
    assert smart_encode(text) == 'C\'est l\'heure : "venez" - de 9h-18h... "promo" - - 5 % fin'
    assert describe_text(smart_encode(text)).encoding == "GSM-7"


def test_every_replacement_is_gsm7() -> None:
    gsm = GSM7_BASIC | GSM7_EXTENSION
    for source, target in SMART_REPLACEMENTS.items():
        assert source not in gsm, repr(source)
        assert set(target) <= gsm, repr(target)


def test_smart_encoding_reports_the_segments_it_saves() -> None:
    rendered = "Votre commande est prête \u2013 merci ! ".replace("ê", "e") * 4  # 144 characters
    assert describe_text(rendered).segments == 3  # UCS-2 because of the en dash
    text, info, saved = encode_text(rendered, smart_encoding=True)
    assert (info.encoding, info.segments, saved) == ("GSM-7", 1, 2)
    assert "\u2013" not in text
    # without smart encoding the text is sent as written
    assert encode_text(rendered, smart_encoding=False) == (rendered, describe_text(rendered), 0)


def test_smart_encoding_leaves_a_text_alone_when_it_saves_nothing() -> None:
    # still UCS-2 (the ê), and no part saved: the typography is kept
    rendered = "Prête \u2013 merci"
    assert encode_text(rendered, smart_encoding=True) == (rendered, describe_text(rendered), 0)
    # GSM-7 already
    assert encode_text("Merci", smart_encoding=True)[2] == 0


def test_a_render_sees_jinjas_globals_and_raises_the_rows_own_error() -> None:
    compiled = compile_template(
        "{% set sep = joiner(',') %}{% for i in range(n) %}{{ sep() }}{{ i }}{% endfor %}"
        " {{ 10 // d }}"
    )
    assert compiled.render({"n": 3, "d": 5}) == "0,1,2 2"
    with pytest.raises(ZeroDivisionError):
        compiled.render({"n": 1, "d": 0})
    # Each row starts afresh: no value of the previous row, the joiner new again.
    assert compiled.render({"n": 2, "d": 1}) == "0,1 10"
    with pytest.raises(TypeError):  # n is NULL: range() refuses it
        compiled.render({"d": 1})
