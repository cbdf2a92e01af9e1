"""Preparing a query's rows: batch-level errors first, then one outcome per row."""

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from campaign_fixtures import make_campaign

from smspresto_pipeline.campaigns.prepare import (
    PreparedMessage,
    batch_run_key,
    check_columns,
    mask_number,
    prepare_batch,
)
from smspresto_pipeline.errors import SMSValidationError


def _table(*rows: tuple[object, object, object, object]) -> pa.Table:
    names = ["recipient", "dedup_key", "first_name", "parcel"]
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})


def test_good_rows_become_messages() -> None:
    batch = prepare_batch(
        make_campaign(),
        _table(
            ("07 08 08 14 88", "p1", "Awa", "CI-001"), ("+2250501020304", "p2", "Yao", "CI-042")
        ),
    )
    assert batch.skipped == ()
    assert batch.rows == 2
    assert batch.messages == (
        PreparedMessage(
            "reminder",
            "p1",
            "+2250708081488",
            "MaBoutique",
            "Bonjour Awa, votre colis CI-001 est arrivé.",
            1,
            "GSM-7",
        ),
        PreparedMessage(
            "reminder",
            "p2",
            "+2250501020304",
            "MaBoutique",
            "Bonjour Yao, votre colis CI-042 est arrivé.",
            1,
            "GSM-7",
        ),
    )
    assert batch.segments == 2


def test_one_bad_row_never_blocks_the_others() -> None:
    campaign = make_campaign(max_segments=1)
    batch = prepare_batch(
        campaign,
        _table(
            ("0708081488", "ok-1", "Awa", "A"),
            ("12345", "bad-number", "Koffi", "B"),
            ("hello", "letters", "Koffi", "B"),
            (None, "no-number", "Koffi", "B"),
            ("0708081489", None, "Koffi", "B"),
            ("0708081490", "  ", "Koffi", "B"),
            ("0708081491", "ok-1", "Koffi", "B"),
            ("0708081492", "null-name", None, "B"),
            ("0708081493", "too-long", "Adjoua " * 30, "B"),
            ("0708081494", "ok-2", "Yao", "C"),
        ),
    )
    assert [m.dedup_key for m in batch.messages] == ["ok-1", "ok-2"]
    assert [(s.dedup_key, s.reason) for s in batch.skipped] == [
        ("bad-number", "invalid_number"),
        ("letters", "invalid_number"),
        ("no-number", "missing_recipient"),
        (None, "missing_dedup_key"),
        (None, "missing_dedup_key"),
        ("ok-1", "duplicate_dedup_key"),
        ("null-name", "render_error"),
        ("too-long", "too_long"),
    ]
    assert batch.skipped_by_reason() == {
        "invalid_number": 2,
        "missing_recipient": 1,
        "missing_dedup_key": 2,
        "duplicate_dedup_key": 1,
        "render_error": 1,
        "too_long": 1,
    }
    details = {s.dedup_key: s.detail for s in batch.skipped}
    assert "'12345' is not a valid number for CI" in details["bad-number"]
    assert "column 'first_name' is NULL" in details["null-name"]
    assert "takes 2 SMS parts" in details["too-long"]
    assert "allows 1" in details["too-long"]
    assert batch.skipped[0].recipient == "12345"  # as written, for the outbox's skipped row


def test_an_empty_rendered_text_is_skipped() -> None:
    campaign = make_campaign(template="{{ first_name }}{{ parcel }}")
    batch = prepare_batch(
        campaign, _table(("0708081488", "a", " ", ""), ("0708081489", "b", "Awa", ""))
    )
    assert [(s.dedup_key, s.reason) for s in batch.skipped] == [("a", "empty_message")]
    assert [m.message for m in batch.messages] == ["Awa"]


def test_a_render_error_of_one_row_is_skipped() -> None:
    campaign = make_campaign(template="{{ first_name }}: {{ 100 // parcel }} F")
    batch = prepare_batch(
        campaign, _table(("0708081488", "a", "Awa", 0), ("0708081489", "b", "Yao", 4))
    )
    assert [(s.dedup_key, s.reason) for s in batch.skipped] == [("a", "render_error")]
    assert "division" in batch.skipped[0].detail
    assert [m.message for m in batch.messages] == ["Yao: 25 F"]


def test_the_first_row_of_a_key_claims_it_even_when_skipped() -> None:
    # the outbox records the skipped row under the key: a later row may not take it
    batch = prepare_batch(
        make_campaign(), _table(("123", "k", "Awa", "A"), ("0708081488", "k", "Awa", "A"))
    )
    assert [s.reason for s in batch.skipped] == ["invalid_number", "duplicate_dedup_key"]
    assert batch.messages == ()


def test_keys_and_numbers_of_other_types_are_read_as_text() -> None:
    table = pa.table(
        {
            "recipient": pa.array([2250708081488], pa.int64()),
            "dedup_key": pa.array([17], pa.int64()),
            "first_name": ["Awa"],
            "parcel": ["A"],
        }
    )
    (message,) = prepare_batch(make_campaign(), table).messages
    assert (message.dedup_key, message.recipient) == ("17", "+2250708081488")


def test_numbers_follow_the_default_region() -> None:
    batch = prepare_batch(
        make_campaign(default_region="FR"), _table(("06 12 34 56 78", "a", "Awa", "A"))
    )
    assert batch.messages[0].recipient == "+33612345678"


def test_accents_outside_gsm7_are_billed_as_ucs2() -> None:
    batch = prepare_batch(make_campaign(), _table(("0708081488", "a", "Aïcha", "A")))
    assert (batch.messages[0].encoding, batch.messages[0].segments) == ("UCS-2", 1)


def test_smart_encoding_reports_the_segments_saved() -> None:
    template = "Bonjour {{ first_name }} \u2013 votre colis {{ parcel }} est arrivé. " * 2
    rows = _table(("0708081488", "a", "Awa", "A" * 40), ("0708081489", "b", "Aïcha", "B"))
    plain = prepare_batch(make_campaign(template=template), rows)
    smart = prepare_batch(make_campaign(template=template, smart_encoding=True), rows)
    assert [m.segments for m in plain.messages] == [3, 2]
    assert [m.segments for m in smart.messages] == [1, 2]  # Aïcha stays UCS-2
    assert [m.segments_saved for m in smart.messages] == [2, 0]
    assert (plain.segments_saved, smart.segments_saved) == (0, 2)
    assert "\u2013" not in smart.messages[0].message
    assert "\u2013" in smart.messages[1].message  # unchanged where nothing is saved


def test_missing_columns_stop_the_batch_before_any_row() -> None:
    table = pa.table({"phone": ["0708081488"], "key": ["a"], "firstname": ["Awa"]})
    with pytest.raises(SMSValidationError) as caught:
        prepare_batch(make_campaign(), table)
    problems = caught.value.problems
    assert problems == (
        "the query returns no column 'recipient': every campaign query must return it",
        "the query returns no column 'dedup_key': every campaign query must return it",
        "the template reads 'first_name', which the query does not return "
        "(did you mean 'firstname'?)",
        "the template reads 'parcel', which the query does not return",
    )
    assert "The query returns: phone, key, firstname" in str(caught.value)


def test_an_empty_result_is_checked_too() -> None:
    empty = pa.table(
        {"recipient": pa.array([], pa.string()), "dedup_key": pa.array([], pa.string())}
    )
    with pytest.raises(SMSValidationError, match="'first_name'"):
        prepare_batch(make_campaign(), empty)
    batch = prepare_batch(make_campaign(template="Bonjour"), empty)
    assert (batch.rows, batch.messages, batch.skipped) == (0, (), ())


def test_check_columns_accepts_extra_columns() -> None:
    check_columns(make_campaign(), ["recipient", "dedup_key", "first_name", "parcel", "unused"])


def test_a_template_the_sandbox_stops_stops_the_batch() -> None:
    campaign = make_campaign(template="{{ first_name.__class__ }}")
    with pytest.raises(SMSValidationError, match="sandbox forbids"):
        prepare_batch(campaign, _table(("0708081488", "a", "Awa", "A")))


def test_a_duckdb_query_result_feeds_prepare(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table contacts (phone varchar, id integer, first_name varchar, "
            "balance decimal(10, 2), due date)"
        )
        con.execute(
            "insert into contacts values "
            "('07 08 08 14 88', 1, 'Awa', 1500.5, date '2025-03-06'), "
            "('0501020304', 2, null, 20, date '2025-03-07'), "
            "('99', 3, 'Yao', 1, date '2025-03-08')"
        )
    campaign = make_campaign(
        sql="select phone as recipient, 'contact-' || id as dedup_key, first_name, balance, due "
        "from contacts order by id",
        template="Bonjour {{ first_name or 'client' }}, solde {{ balance }} F au "
        "{{ due.strftime('%d/%m') }}.",
    )
    with duckdb.connect(str(path), read_only=True) as con:
        table = con.sql(campaign.sql).to_arrow_table()
    batch = prepare_batch(campaign, table)
    assert [(m.dedup_key, m.recipient, m.message) for m in batch.messages] == [
        ("contact-1", "+2250708081488", "Bonjour Awa, solde 1500.50 F au 06/03."),
        ("contact-2", "+2250501020304", "Bonjour client, solde 20.00 F au 07/03."),
    ]
    assert [(s.dedup_key, s.reason) for s in batch.skipped] == [("contact-3", "invalid_number")]


def test_the_run_key_depends_on_the_keys_not_their_order() -> None:
    key = batch_run_key("reminder", ["a", "b", "c"])
    assert key == batch_run_key("reminder", ["c", "a", "b"])
    assert key == batch_run_key("reminder", iter(["b", "c", "a", "a"]))
    assert key.startswith("reminder-3-")
    assert key != batch_run_key("reminder", ["a", "b"])
    assert key != batch_run_key("reminder", ["a", "b", "d"])
    assert key != batch_run_key("other", ["a", "b", "c"])
    # no ambiguity between keys holding separators and several keys
    assert batch_run_key("r", ["a\nb"]) != batch_run_key("r", ["a", "b"])
    assert batch_run_key("r", ["a", "b"]) == "r-2-" + batch_run_key("r", ["b", "a"])[4:]


def test_the_run_key_is_stable_across_processes() -> None:
    # a tick evaluated again (another process, another day) must name the same batch the same
    assert batch_run_key("reminder", ["a", "b"]) == "reminder-2-a6a245b3deb59d28231b9625b72f91e7"


def test_a_batch_names_its_run_after_its_messages() -> None:
    batch = prepare_batch(
        make_campaign(), _table(("0708081488", "b", "Awa", "A"), ("bad", "a", "Yao", "B"))
    )
    assert batch.run_key() == batch_run_key("reminder", ["b"])


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+2250708081488", "+225 07 ** ** ** 88"),
        ("+33612345678", "+33 61 ** ** * 78"),
        ("+14155550123", "+1 41 ** ** ** 23"),
        ("07 08 08 14 88", "07 ** ** ** 88"),
        ("12345", "***45"),
        ("", ""),
    ],
)
def test_masking(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_the_preview_masks_numbers() -> None:
    batch = prepare_batch(
        make_campaign(),
        _table(*[(f"07080814{i:02d}", f"k{i}", "Awa", "A") for i in range(10)]),
    )
    preview = batch.preview(limit=2)
    assert len(preview) == 2
    assert preview[0] == {
        "recipient": "+225 07 ** ** ** 00",
        "message": "Bonjour Awa, votre colis A est arrivé.",
        "segments": 1,
        "encoding": "GSM-7",
    }
    assert "0708081400" not in str(preview)
