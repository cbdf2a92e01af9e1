"""Opt-outs, for real in tmp_path: numbers normalised or refused, set-based checks, and the
import of STOP replies from a CSV (accents, case, blank lines, invalid numbers)."""

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sending import OptOut, OptOuts
from smspresto_pipeline.sending.replies import fold, is_stop_reply, read_replies
from smspresto_pipeline.warehouse import Warehouse

AMA, KONE, YAO = "+2250708081488", "+2250505050505", "+2250101020304"
NOW = datetime(2025, 3, 6, 9, 0)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def opt_outs(warehouse: Warehouse) -> OptOuts:
    return OptOuts(warehouse)


def stored(warehouse: Warehouse) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        return con.execute(
            "SELECT recipient, reason, source FROM smspresto.opt_outs ORDER BY recipient"
        ).fetchall()


def test_add_normalises_numbers(opt_outs: OptOuts, warehouse: Warehouse) -> None:
    change = opt_outs.add(["07 08 08 14 88", "+225 05 05 05 05 05", "0708081488"], reason="call")
    assert change.added == (AMA, KONE)  # the duplicate (after normalisation) counts once
    assert change.unchanged == ()
    assert stored(warehouse) == [(KONE, "call", "manual"), (AMA, "call", "manual")]


def test_add_again_keeps_the_first_record(opt_outs: OptOuts, warehouse: Warehouse) -> None:
    opt_outs.add([AMA], reason="first", source="cli", now=NOW)
    change = opt_outs.add([AMA, KONE], reason="second")
    assert (change.added, change.unchanged) == ((KONE,), (AMA,))
    assert opt_outs.entries()[0] == OptOut(AMA, "first", "cli", NOW)


def test_invalid_numbers_are_refused_together(opt_outs: OptOuts, warehouse: Warehouse) -> None:
    with pytest.raises(SMSValidationError) as caught:
        opt_outs.add([AMA, "abc", "+22508081488"])
    problems = caught.value.problems
    assert len(problems) == 2
    assert "'abc' is not a phone number" in problems[0]
    assert "+22508081488" in problems[1]
    assert opt_outs.entries() == []  # nothing added: not even the valid number


def test_the_region_reads_national_numbers(tmp_path: Path) -> None:
    opt_outs = OptOuts(Warehouse(tmp_path / "w.duckdb"), region="FR")
    assert opt_outs.add(["06 12 34 56 78"]).added == ("+33612345678",)


def test_remove(opt_outs: OptOuts) -> None:
    opt_outs.add([AMA, KONE])
    change = opt_outs.remove(["07 08 08 14 88", YAO])
    assert (change.removed, change.unchanged) == ((AMA,), (YAO,))
    assert [o.recipient for o in opt_outs.entries()] == [KONE]


def test_checks_are_set_based(opt_outs: OptOuts) -> None:
    opt_outs.add([AMA, KONE])
    numbers = [YAO, AMA] + [f"+22507{i:08d}" for i in range(20_000)]
    assert opt_outs.opted_out(numbers) == {AMA}
    assert opt_outs.opted_out([]) == set()
    assert opt_outs.is_opted_out("07 08 08 14 88")
    assert not opt_outs.is_opted_out(YAO)


def test_a_missing_file_has_no_opt_outs_and_is_not_created(tmp_path: Path) -> None:
    opt_outs = OptOuts(Warehouse(tmp_path / "none.duckdb"))
    assert opt_outs.opted_out([AMA]) == set()
    assert opt_outs.entries() == []
    assert not (tmp_path / "none.duckdb").exists()


# --- STOP replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop. ",
        "ARRET",
        "Arrêt",
        "ARRÊT !",
        "arrêt sms",
        "STOP SMS",
        "stop-sms",
        "Unsubscribe",
        "Désabonner",
        "DESABONNEMENT",
        "stop\n",
        "\uff33\uff34\uff2f\uff30",  # full-width STOP, as some phones type it
    ],
)
def test_stop_replies(text: str) -> None:
    assert is_stop_reply(text)


@pytest.mark.parametrize(
    "text",
    ["", "Merci", "stop les promos svp merci", "Je ne veux pas arrêter", "STOPPER", "s t o p"],
)
def test_other_replies(text: str) -> None:
    assert not is_stop_reply(text)


def test_fold() -> None:
    assert fold("  Désabonnement — ARRÊT!! ") == "desabonnement arret"


def write_csv(tmp_path: Path, text: str, name: str = "replies.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_replies(opt_outs: OptOuts, warehouse: Warehouse, tmp_path: Path) -> None:
    opt_outs.add([YAO], reason="earlier")
    path = write_csv(
        tmp_path,
        "numero,date,message\n"
        "07 08 08 14 88,2025-03-05,Arrêt\n"
        "\n"
        "+2250505050505,2025-03-05,stop sms\n"
        "0101020304,2025-03-05,STOP\n"
        "0708081488,2025-03-06,ARRET\n"
        "12,2025-03-06,STOP\n"
        "abc,2025-03-06,désabonner\n"
        "0707070707,2025-03-06,Merci pour le rappel\n"
        ",2025-03-06,\n",
    )
    result = opt_outs.import_replies(path, now=NOW)
    assert result.added == (AMA, KONE)
    assert result.already == (YAO,)
    assert len(result.invalid) == 2
    assert result.invalid[0] == "line 7: '12' is not a valid number for CI"
    assert result.invalid[1].startswith("line 8: 'abc' is not a phone number")
    assert result.ignored == 2  # the thank-you and the empty reply; the blank line is no row
    assert stored(warehouse) == [
        (YAO, "earlier", "manual"),
        (KONE, "replied STOP", "reply-import"),
        (AMA, "replied STOP", "reply-import"),
    ]
    again = opt_outs.import_replies(path)
    assert (again.added, again.already) == ((), (AMA, KONE, YAO))


def test_import_reads_semicolons_a_bom_and_french_headers(
    opt_outs: OptOuts, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufeffExpéditeur;Réponse;Reçu le\n0708081488;Arrêt;05/03/2025\n", encoding="utf-8"
    )
    assert opt_outs.import_replies(path).added == (AMA,)


def test_import_takes_named_columns(opt_outs: OptOuts, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "Client,Contenu du SMS\n0708081488,STOP\n")
    with pytest.raises(ValueError, match="no phone number column"):
        opt_outs.import_replies(path)
    with pytest.raises(ValueError, match="no message text column"):
        opt_outs.import_replies(path, phone_column="Client")
    result = opt_outs.import_replies(path, phone_column="client", text_column="contenu du sms")
    assert result.added == (AMA,)


def test_import_names_the_columns_it_did_not_find(opt_outs: OptOuts, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "who,what\n0708081488,STOP\n")
    with pytest.raises(
        ValueError, match=r"no phone number column .* columns are \['who', 'what'\]"
    ):
        opt_outs.import_replies(path)
    with pytest.raises(ValueError, match="no phone number column named 'tel'"):
        opt_outs.import_replies(path, phone_column="tel", text_column="what")
    assert opt_outs.import_replies(path, phone_column="who", text_column="what").added == (AMA,)
    with pytest.raises(ValueError, match="header row"):
        opt_outs.import_replies(write_csv(tmp_path, "", "empty.csv"))


def test_read_replies_counts_lines_from_the_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "phone\ttext\n0708081488\tSTOP\n\n0505050505\tok\n")
    assert [(r.line, r.phone, r.text) for r in read_replies(path)] == [
        (2, "0708081488", "STOP"),
        (4, "0505050505", "ok"),
    ]


def test_changes_past_a_row_group_report_every_number(tmp_path: Path) -> None:
    """The opt-out writes trust INSERT's and DELETE's RETURNING, which (unlike UPDATE's on
    DuckDB 2.0.1) reports every row past a row group on several threads: pinned here."""
    warehouse = Warehouse(tmp_path / "warehouse.duckdb", threads=4)
    opt_outs = OptOuts(warehouse)
    numbers = [f"+22507{i:08d}" for i in range(40_000)]
    assert len(opt_outs.add(numbers[:20_000]).added) == 20_000
    with warehouse.connect() as con:
        con.execute("CHECKPOINT")  # the rows in row groups, as DuckDB leaves them in time
    change = opt_outs.add(numbers)
    assert (len(change.added), len(change.unchanged)) == (20_000, 20_000)
    with warehouse.connect() as con:
        con.execute("CHECKPOINT")
    assert len(opt_outs.remove(numbers[::2]).added) == 20_000
    assert {row[0] for row in stored(warehouse)} == set(numbers[1::2])
