"""The simulator over real HTTP on 127.0.0.1: protocol, errors, paging, state, faults."""

import json
import os
import signal
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import (
    SIMULATOR_HISTORY_END,
    SIMULATOR_HISTORY_START,
    MakeSimulator,
    simulator_config,
)

import smspresto_pipeline.simulator as simulator_package
from smspresto_pipeline.api import models
from smspresto_pipeline.simulator import (
    ARCHIVE_FIELDS,
    FAULT_KINDS,
    Fault,
    RunningSimulator,
    SimulatorConfig,
    Spike,
    free_port,
    run_simulator,
    serve,
)
from smspresto_pipeline.simulator.seed import seed_days

DAY = SIMULATOR_HISTORY_START
BARE_NUMBER_ACTIONS = ("get-stock", "get-send", "get-success", "get-failed")
TOTAL_ACTIONS = (
    "get-contact-total",
    "get-group-total",
    "get-order-total",
    "get-bill-total",
    "get-scheduled-total",
    "get-predefined-total",
)
NUMBER = "+2250701020304"
# One client for the module: building one (its TLS context) costs more than a request here.
HTTP = httpx.Client(timeout=10)


def call(
    sim: RunningSimulator, action: str | None, method: str = "POST", /, **params: Any
) -> httpx.Response:
    """One request with the simulator's credentials (overridable through ``params``).

    ``timeout`` is the request's timeout; other ``params`` are the request's fields, and a
    ``None`` value leaves that field out.
    """
    timeout = params.pop("timeout", 10)
    fields = {"action": action, "user": sim.api_key, "pass": sim.api_pass, **params}
    fields = {key: value for key, value in fields.items() if value is not None}
    if method == "GET":
        return HTTP.get(sim.base_url, params=fields, timeout=timeout)
    return HTTP.post(sim.base_url, data=fields, timeout=timeout)


def post_send(sim: RunningSimulator, payload: dict[str, Any], **credentials: Any) -> Any:
    """``sendsms`` by POST with the reference's ``data`` JSON object; the decoded answer."""
    data = {"user": sim.api_key, "pass": sim.api_pass, "action": "sendsms", **payload}
    data.update(credentials)
    data = {key: value for key, value in data.items() if value is not None}
    answer = HTTP.post(sim.base_url, data={"data": json.dumps(data)})
    assert answer.status_code == 200
    return answer.json()


def archive(sim: RunningSimulator, day_from: date, day_to: date, **params: Any) -> Any:
    answer = call(
        sim, "list-archive", dateFrom=day_from.isoformat(), dateTo=day_to.isoformat(), **params
    )
    assert answer.status_code == 200
    return answer.json() if answer.content else None


def today(sim: RunningSimulator) -> date:
    return datetime.now(ZoneInfo(sim.config.timezone)).date()


# -- actions ---------------------------------------------------------------------------------


def test_counters_answer_a_bare_number(simulator: RunningSimulator) -> None:
    for action in BARE_NUMBER_ACTIONS:
        for method in ("GET", "POST"):
            answer = call(simulator, action, method)
            assert answer.status_code == 200
            assert answer.text.isdigit(), (action, method, answer.text)


def test_totals_answer_a_json_total(simulator: RunningSimulator) -> None:
    for action in TOTAL_ACTIONS:
        for method in ("GET", "POST"):
            body = call(simulator, action, method).json()
            assert list(body) == ["TOTAL"], (action, method)
            assert isinstance(body["TOTAL"], str)
            assert body["TOTAL"].isdigit()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_list_archive_answers_rows_of_twelve_string_fields(
    simulator: RunningSimulator, method: str
) -> None:
    rows = call(
        simulator, "list-archive", method, dateFrom=DAY.isoformat(), dateTo=DAY.isoformat()
    ).json()
    assert rows
    for row in rows:
        assert tuple(row) == ARCHIVE_FIELDS
        assert all(isinstance(value, str) for value in row.values())
        assert row["HIS_DATEHEURECREA"].startswith(DAY.isoformat())
    ids = [int(row["IDHISTORIQUE"]) for row in rows]
    assert ids == sorted(set(ids))
    assert len(rows) == simulator.message_count(DAY, DAY)


def test_counters_match_the_simulator_and_the_archive(simulator: RunningSimulator) -> None:
    rows = archive(simulator, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)
    statuses = Counter(row["HIS_STATUT"] for row in rows)
    counters = simulator.counters()
    assert counters["sent"] == len(rows) == simulator.message_count()
    assert counters["success"] == statuses["1"]
    assert counters["failed"] == statuses["2"]
    assert int(call(simulator, "get-send").text) == counters["sent"]
    assert int(call(simulator, "get-success").text) == counters["success"]
    assert int(call(simulator, "get-failed").text) == counters["failed"]
    assert int(call(simulator, "get-stock").text) == counters["stock"] == 100_000
    assert call(simulator, "get-contact-total").json() == {"TOTAL": str(counters["contacts"])}
    assert call(simulator, "get-predefined-total").json() == {"TOTAL": str(counters["predefined"])}


@pytest.mark.parametrize("path", ["/console/api/", "/console/api"])
def test_the_endpoint_answers_with_and_without_trailing_slash(
    simulator: RunningSimulator, path: str
) -> None:
    url = simulator.base_url.replace("/console/api/", path)
    answer = HTTP.post(
        url, data={"action": "get-stock", "user": simulator.api_key, "pass": simulator.api_pass}
    )
    assert answer.text == "100000"


def test_other_paths_and_methods_are_refused(simulator: RunningSimulator) -> None:
    assert HTTP.get(simulator.base_url.replace("/console/api/", "/elsewhere")).status_code == 404
    assert HTTP.put(simulator.base_url).status_code == 405


# -- sending ---------------------------------------------------------------------------------


def test_sendsms_by_get_with_comma_separated_recipients(simulator: RunningSimulator) -> None:
    answer = call(
        simulator, "sendsms", "GET", **{"from": "ONIRIS", "to": f"{NUMBER},+2250501020304"},
        message="Réunion à 10h",
    )  # fmt: skip
    assert answer.json() == {
        "status": 0,
        "message": "Message sent successfully.",
        "message-count": 2,
    }
    assert simulator.sends == [
        ("ONIRIS", [(NUMBER, "Réunion à 10h"), ("+2250501020304", "Réunion à 10h")])
    ]


def test_sendsms_by_post_with_one_message_for_all(simulator: RunningSimulator) -> None:
    before = simulator.message_count()
    body = post_send(
        simulator,
        {
            "from": "BANQUEXYZ",
            "message": "Votre reçu est prêt",
            "to": [{"recipient": NUMBER}, {"recipient": "+22177123456"}],
        },
    )
    assert body["status"] == 0
    assert body["message-count"] == 2
    assert simulator.sends[-1].messages == [
        (NUMBER, "Votre reçu est prêt"),
        ("+22177123456", "Votre reçu est prêt"),
    ]
    assert simulator.message_count() == before + 2


def test_sendsms_by_post_with_a_message_each(simulator: RunningSimulator) -> None:
    body = post_send(
        simulator,
        {
            "from": "CLINIQUE",
            "to": [
                {"recipient": NUMBER, "message": "Bonjour Aya"},
                {"recipient": "+2250501020304", "message": "Bonjour Koffi 🎉"},
            ],
        },
    )
    assert body["message-count"] == 2
    rows = archive(simulator, today(simulator), today(simulator))
    assert [(r["HIS_DESTINATAIRE"], r["HIS_MESSAGE"], r["HIS_EXPEDITEUR"]) for r in rows] == [
        (NUMBER, "Bonjour Aya", "CLINIQUE"),
        ("+2250501020304", "Bonjour Koffi 🎉", "CLINIQUE"),
    ]
    assert rows[0]["IDSMSFILATTENTE"] == rows[1]["IDSMSFILATTENTE"]
    assert int(rows[0]["IDHISTORIQUE"]) > simulator.message_count() - 2


def test_sendsms_by_post_as_plain_form_fields(simulator: RunningSimulator) -> None:
    answer = call(simulator, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "Salut"})
    assert answer.json()["status"] == 0
    assert simulator.sends == [("ONIRIS", [(NUMBER, "Salut")])]


def test_stock_decreases_by_segments(simulator: RunningSimulator) -> None:
    stock = 100_000
    for text, segments in [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # GSM-7 extension: two units each
        ("€" * 81, 2),
        ("ç" * 70, 1),  # not GSM-7: the text is UCS-2
        ("ç" * 71, 2),
        ("🎉" * 35, 1),  # two UTF-16 units each
        ("🎉" * 36, 2),
    ]:
        body = post_send(
            simulator, {"from": "ONIRIS", "message": text, "to": [{"recipient": NUMBER}] * 3}
        )
        assert body["status"] == 0
        stock -= 3 * segments
        assert simulator.counters()["stock"] == stock, text
        assert int(call(simulator, "get-stock").text) == stock
        rows = archive(simulator, today(simulator), today(simulator))[-3:]
        assert [row["HIS_NOMBRESMS"] for row in rows] == [str(segments)] * 3, text


# -- errors ----------------------------------------------------------------------------------


def _error(answer: httpx.Response) -> int:
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"status", "message"}
    assert body["message"]
    return int(body["status"])


@pytest.mark.parametrize("action", ["get-stock", "list-archive", "sendsms"])
def test_authentication_errors(simulator: RunningSimulator, action: str) -> None:
    cases: list[tuple[dict[str, str | None], int]] = [
        ({"user": None, "pass": None}, 1),
        ({"user": None}, 1),
        ({"user": ""}, 1),
        ({"user": "someone-else"}, 10),
        ({"pass": "wrong"}, 11),
        ({"pass": None}, 11),
    ]
    for credentials, code in cases:
        params = {"from": "ONIRIS", "to": NUMBER, "message": "x", **credentials}
        assert _error(call(simulator, action, **params)) == code, credentials
        assert _error(call(simulator, action, "GET", **params)) == code, credentials
    assert simulator.sends == []


def test_malformed_data_is_an_authentication_failure(simulator: RunningSimulator) -> None:
    for data in ("{not json", "[1, 2]", '"text"'):
        assert _error(HTTP.post(simulator.base_url, data={"data": data})) == 1


def test_data_credentials_are_checked(simulator: RunningSimulator) -> None:
    payload = {"from": "ONIRIS", "message": "x", "to": [{"recipient": NUMBER}]}
    assert post_send(simulator, payload, user="nobody")["status"] == 10
    assert post_send(simulator, payload, **{"pass": "nope"})["status"] == 11


def test_send_validation_errors(simulator: RunningSimulator) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"from": ""}, 100),
        ({"from": "   "}, 100),
        ({"from": None}, 100),
        ({"from": "ONIRIS!"}, 100),
        ({"from": "ÉCOLE"}, 100),
        ({"from": "TWO  SPACES"}, 100),
        ({"from": "ABCDEFGHIJKL"}, 101),
        ({"from": "+1234567890123456"}, 101),
        ({"to": "0701020304"}, 102),
        ({"to": "+225 07 01 02 03 04"}, 102),
        ({"to": "+1234567"}, 102),
        ({"to": "+1234567890123456"}, 102),
        ({"to": f"{NUMBER},07"}, 102),
        ({"to": ""}, 102),
        ({"message": ""}, 103),
        ({"message": "   "}, 103),
        ({"message": None}, 103),
    ]
    for fields, code in cases:
        params = {"from": "ONIRIS", "to": NUMBER, "message": "Bonjour", **fields}
        assert _error(call(simulator, "sendsms", "GET", **params)) == code, fields
        assert _error(call(simulator, "sendsms", **params)) == code, fields
    assert simulator.sends == []
    assert simulator.counters()["stock"] == 100_000


def test_valid_senders_are_accepted(simulator: RunningSimulator) -> None:
    for sender in ("ABCDEFGHIJK", "MY SHOP", "123456789012345", "+2250701020304"):
        params = {"from": sender, "to": NUMBER, "message": "ok"}
        assert call(simulator, "sendsms", **params).json()["status"] == 0, sender


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ([], 102),
        ([{"recipient": "0701020304"}], 102),
        (["+2250701020304"], 102),
        ([{"recipient": NUMBER, "message": ""}, {"recipient": NUMBER}], 103),
    ],
)
def test_send_validation_errors_in_data(
    simulator: RunningSimulator, to: list[Any], code: int
) -> None:
    assert post_send(simulator, {"from": "ONIRIS", "to": to})["status"] == code
    assert simulator.sends == []


def test_insufficient_credit_is_code_104_and_stores_nothing(make_simulator: MakeSimulator) -> None:
    with make_simulator(initial_stock=3) as sim:
        payload = {"from": "ONIRIS", "message": "a" * 161, "to": [{"recipient": NUMBER}] * 2}
        assert post_send(sim, payload) == {"status": 104, "message": "Insufficient credit"}
        assert sim.sends == []
        assert sim.counters()["stock"] == 3
        assert archive(sim, today(sim), today(sim)) == []
        payload["to"] = [{"recipient": NUMBER}]
        assert post_send(sim, payload)["status"] == 0
        assert sim.counters()["stock"] == 1


def test_unknown_action_is_code_105(simulator: RunningSimulator) -> None:
    assert _error(call(simulator, "get-everything")) == 105
    assert _error(call(simulator, None)) == 105


# -- list-archive ----------------------------------------------------------------------------


def _all_rows(sim: RunningSimulator, day: date) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = archive(sim, day, day)
    return rows


@pytest.mark.parametrize("paging", ["limit", "range"])
def test_paging_covers_a_day_exactly_with_an_uneven_page_size(
    make_simulator: MakeSimulator, paging: str
) -> None:
    page_size = 7
    with make_simulator(paging=paging) as sim:
        expected = _all_rows(sim, DAY)
        assert len(expected) % page_size != 0
        rows: list[dict[str, str]] = []
        pages = 0
        for _ in range(len(expected)):  # bounded: a paging bug must not hang the suite
            to = page_size if paging == "limit" else len(rows) + page_size
            page = archive(sim, DAY, DAY, **{"from": len(rows), "to": to})
            if not page:
                break
            assert len(page) <= page_size
            rows.extend(page)
            pages += 1
        assert rows == expected
        assert pages == -(-len(expected) // page_size)


def test_the_two_paging_meanings_differ(make_simulator: MakeSimulator) -> None:
    with make_simulator(paging="limit") as by_limit, make_simulator(paging="range") as by_range:
        everything = _all_rows(by_limit, DAY)
        assert everything == _all_rows(by_range, DAY)
        assert archive(by_limit, DAY, DAY, **{"from": 10, "to": 5}) == everything[10:15]
        assert archive(by_range, DAY, DAY, **{"from": 10, "to": 15}) == everything[10:15]
        assert archive(by_range, DAY, DAY, **{"from": 10, "to": 5}) == []
        # The client's rule (to = from + page size) reads both correctly, overlapping at worst.
        assert archive(by_limit, DAY, DAY, **{"from": 10, "to": 15})[:5] == everything[10:15]


def test_max_page_size_caps_a_page(make_simulator: MakeSimulator) -> None:
    with make_simulator(max_page_size=4) as sim:
        assert len(archive(sim, DAY, DAY, **{"from": 0, "to": 50})) == 4
        assert len(archive(sim, DAY, DAY)) == 4


@pytest.mark.parametrize(("empty_page", "expected"), [("[]", b"[]"), ("null", b"null"), ("", b"")])
def test_an_empty_page_has_the_configured_body(
    make_simulator: MakeSimulator, empty_page: str, expected: bytes
) -> None:
    empty_day = SIMULATOR_HISTORY_START - timedelta(days=1)
    with make_simulator(empty_page=empty_page) as sim:
        for params in (
            {"dateFrom": empty_day.isoformat(), "dateTo": empty_day.isoformat()},
            {"dateFrom": DAY.isoformat(), "dateTo": DAY.isoformat(), "from": 10_000, "to": 10},
            {"dateFrom": "2025-02-30", "dateTo": "2025-02-30"},
            {"dateFrom": "yesterday"},
            {"from": "-1"},
            {"to": "ten"},
        ):
            assert call(sim, "list-archive", **params).content == expected, params


def test_date_bounds_are_inclusive_days(simulator: RunningSimulator) -> None:
    counts = [
        simulator.message_count(SIMULATOR_HISTORY_START + timedelta(days=n),
                                SIMULATOR_HISTORY_START + timedelta(days=n))
        for n in range(5)
    ]  # fmt: skip
    assert all(counts)
    two_days = archive(simulator, DAY, DAY + timedelta(days=1))
    assert len(two_days) == counts[0] + counts[1]
    assert {row["HIS_DATEHEURECREA"][:10] for row in two_days} == {
        DAY.isoformat(),
        (DAY + timedelta(days=1)).isoformat(),
    }
    assert len(archive(simulator, DAY, SIMULATOR_HISTORY_END)) == sum(counts)


def test_new_sends_are_dated_in_the_account_time_zone(make_simulator: MakeSimulator) -> None:
    with make_simulator(timezone="Pacific/Kiritimati") as sim:  # UTC+14
        assert call(sim, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "ok"})
        local_today = today(sim)
        rows = archive(sim, local_today, local_today)
        assert [row["HIS_DESTINATAIRE"] for row in rows] == [NUMBER]
        assert rows[0]["HIS_DATEHEURECREA"].startswith(local_today.isoformat())


# -- statuses --------------------------------------------------------------------------------


def _status_of_last_send(sim: RunningSimulator) -> str:
    rows = archive(sim, today(sim), today(sim))
    return str(rows[-1]["HIS_STATUT"])


@pytest.mark.parametrize(("failure_rate", "final"), [(0.0, "1"), (1.0, "2")])
def test_statuses_move_from_pending_after_the_delay(
    make_simulator: MakeSimulator, failure_rate: float, final: str
) -> None:
    with make_simulator(delivery_delay=0.3, failure_rate=failure_rate) as sim:
        call(sim, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "ok"})
        seen = {_status_of_last_send(sim)}
        for _ in range(100):
            if final in seen:
                break
            time.sleep(0.05)
            seen.add(_status_of_last_send(sim))
        assert seen <= {"0", final}
        assert final in seen


def test_a_new_send_is_pending_within_the_delay(make_simulator: MakeSimulator) -> None:
    with make_simulator(delivery_delay=600, failure_rate=0.0) as sim:
        before = sim.counters()
        call(sim, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "ok"})
        assert _status_of_last_send(sim) == "0"
        after = sim.counters()
        assert after["sent"] == before["sent"] + 1
        assert (after["success"], after["failed"]) == (before["success"], before["failed"])


def test_old_ivorian_numbers_are_accepted_and_fail(make_simulator: MakeSimulator) -> None:
    with make_simulator(delivery_delay=0, failure_rate=0.0) as sim:
        call(sim, "sendsms", **{"from": "ONIRIS", "to": "+22508081488", "message": "test"})
        assert _status_of_last_send(sim) == "2"


def test_set_status_changes_a_row_now(simulator: RunningSimulator) -> None:
    first = archive(simulator, DAY, DAY)[0]
    history_id = int(first["IDHISTORIQUE"])
    simulator.set_status(history_id, "3")
    assert archive(simulator, DAY, DAY)[0]["HIS_STATUT"] == "3"
    with pytest.raises(KeyError):
        simulator.set_status(10**9, "1")


# -- seeded history and state ----------------------------------------------------------------


def test_seeded_history_is_realistic(make_simulator: MakeSimulator) -> None:
    with make_simulator(
        messages_per_day=200,
        history_start=date(2025, 3, 1),
        history_end=date(2025, 3, 28),
    ) as sim:
        rows = archive(sim, date(2025, 3, 1), date(2025, 3, 28))
    numbers = [row["HIS_DESTINATAIRE"] for row in rows]
    ivorian_10 = sum(1 for n in numbers if n.startswith("+225") and len(n) == 14)
    assert ivorian_10 / len(numbers) > 0.8
    assert any(n.startswith("+225") and len(n) == 12 for n in numbers)  # pre-2021 format
    assert any(not n.startswith("+225") for n in numbers)
    texts = " ".join(row["HIS_MESSAGE"] for row in rows)
    assert all(letter in texts for letter in "éèàç")
    segments = {int(row["HIS_NOMBRESMS"]) for row in rows}
    assert 1 in segments
    assert max(segments) >= 2
    assert {row["HIS_STATUT"] for row in rows} <= {"1", "2", "3"}
    assert {"ONIRIS", "BANQUEXYZ", "CLINIQUE"} <= {row["HIS_EXPEDITEUR"] for row in rows}
    assert len({row["CPT_REF"] for row in rows}) == 1
    assert rows[0]["CPT_REF"].startswith("SP225")
    assert any(row["NOMCONTACT"] for row in rows)

    by_day: dict[str, list[str]] = {}
    for row in rows:
        by_day.setdefault(row["HIS_DATEHEURECREA"][:10], []).append(row["HIS_STATUT"])
    failure = {day: s.count("2") / len(s) for day, s in by_day.items()}
    spikes = [day for day, rate in failure.items() if rate >= 0.25]
    assert spikes
    assert len(spikes) <= 4
    weekdays = [len(s) for day, s in by_day.items() if date.fromisoformat(day).weekday() < 5]
    sundays = [len(s) for day, s in by_day.items() if date.fromisoformat(day).weekday() == 6]
    assert sum(sundays) / len(sundays) < sum(weekdays) / len(weekdays)


@pytest.mark.parametrize(("pool", "most_distinct"), [(3000, 3000), (200, 200), (0, None)])
def test_recipient_pool_sets_how_many_numbers_recur(
    make_simulator: MakeSimulator, pool: int, most_distinct: int | None
) -> None:
    """A shop's customers recur; a marketing list's numbers are nearly all new."""
    with make_simulator(
        messages_per_day=2000,
        recipient_pool=pool,
        history_start=date(2025, 3, 3),
        history_end=date(2025, 3, 5),
    ) as sim:
        numbers = [
            row["HIS_DESTINATAIRE"] for row in archive(sim, date(2025, 3, 3), date(2025, 3, 5))
        ]
    distinct = len(set(numbers))
    if most_distinct is None:
        assert distinct / len(numbers) > 0.99, (distinct, len(numbers))
    else:
        assert distinct <= most_distinct
        assert len(numbers) > 2 * most_distinct, "numbers recur"


def test_spike_days_are_reported(simulator: RunningSimulator) -> None:
    assert simulator.spike_days() == [SIMULATOR_HISTORY_END]
    rows = archive(simulator, SIMULATOR_HISTORY_END, SIMULATOR_HISTORY_END)
    assert sum(row["HIS_STATUT"] == "2" for row in rows) / len(rows) >= 0.25


def test_spike_parses_and_validates() -> None:
    assert Spike.parse("2025-03-10:sender:ONIRIS:2.5") == Spike(
        date(2025, 3, 10), "sender:ONIRIS", 2.5
    )
    assert Spike.parse("2025-03-10:all:3").segment == "all"
    with pytest.raises(ValueError, match="segment"):
        Spike(date(2025, 3, 10), "country:CI", 2.0)
    with pytest.raises(ValueError, match="positive"):
        Spike(date(2025, 3, 10), "carrier:MTN", 0.0)
    with pytest.raises(ValueError, match="DAY:SEGMENT:FACTOR"):
        Spike.parse("2025-03-10")
    with pytest.raises(ValueError, match="spike_period"):
        SimulatorConfig(spike_period=-1)


def _failures_by_carrier_prefix(rows: list[dict[str, str]]) -> dict[str, tuple[int, int]]:
    """(messages, failed) per Ivorian carrier prefix (``07`` Orange, ``05`` MTN, ``01`` Moov)."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        number = row["HIS_DESTINATAIRE"]
        if number.startswith("+225") and len(number) == 14:
            cell = counts.setdefault(number[4:6], [0, 0])
            cell[0] += 1
            cell[1] += row["HIS_STATUT"] == "2"
    return {prefix: (n, x) for prefix, (n, x) in counts.items()}


def test_an_injected_spike_raises_one_carriers_rate_on_its_day(
    make_simulator: MakeSimulator,
) -> None:
    day = date(2025, 3, 5)
    common = {
        "history_start": day,
        "history_end": day,
        "messages_per_day": 1500,
        "spike_period": 0,
    }
    with make_simulator(**common) as clean:
        before = _failures_by_carrier_prefix(archive(clean, day, day))
        assert clean.spike_days() == []
    with make_simulator(**common, spikes=(Spike(day, "carrier:MTN", 4.0),)) as spiked:
        after = _failures_by_carrier_prefix(archive(spiked, day, day))
        assert spiked.spike_days() == [day]
    assert after["05"][0] == before["05"][0]  # the same messages, more of them failed
    assert after["05"][1] >= 2.5 * max(before["05"][1], 1)
    for other in ("07", "01"):  # Orange and Moov: only the draw's noise
        assert abs(after[other][1] - before[other][1]) <= 0.5 * before[other][1] + 5


def test_a_spike_with_a_start_time_affects_only_the_messages_created_from_then_on() -> None:
    day = date(2025, 3, 5)
    spike = Spike.parse("2025-03-05T12:00:carrier:MTN:6")
    assert (spike.day, spike.segment, spike.factor) == (day, "carrier:MTN", 6.0)
    assert spike.start is not None
    assert spike.start.isoformat() == "12:00:00"
    (clean,) = seed_days(3, day, day, 3000, 0.05, spike_period=0)
    (spiked,) = seed_days(3, day, day, 3000, 0.05, spikes=[spike], spike_period=0)
    assert spiked.spike
    # The same messages (when, to whom, from whom); later draws differ once a status does.
    assert [(r[1], r[4], r[7]) for r in spiked.rows] == [(r[1], r[4], r[7]) for r in clean.rows]

    def mtn_failures(rows: list[Any], afternoon: bool) -> tuple[int, int]:
        chosen = [
            row[10]
            for row in rows
            if row[4].startswith("+22505") and (row[1] >= "2025-03-05 12:00:00") == afternoon
        ]
        return len(chosen), chosen.count("2")

    # The morning's messages are the same, statuses included; the afternoon's MTN ones fail more.
    morning = [row for row in spiked.rows if row[1] < "2025-03-05 12:00:00"]
    assert morning == [row for row in clean.rows if row[1] < "2025-03-05 12:00:00"]
    assert mtn_failures(spiked.rows, False) == mtn_failures(clean.rows, False)
    messages, failed = mtn_failures(spiked.rows, True)
    assert messages > 300
    assert failed >= 3 * mtn_failures(clean.rows, True)[1]
    with pytest.raises(ValueError, match="'2025-03-05T25:00:carrier:MTN:6': hour must be"):
        Spike.parse("2025-03-05T25:00:carrier:MTN:6")


def test_the_daily_failure_rate_is_over_dispersed_with_a_weekly_rhythm() -> None:
    """The rate itself moves from day to day: far more spread than binomial draws around one
    rate would give; weekends fail more."""
    days = list(seed_days(7, date(2025, 1, 6), date(2025, 4, 27), 1000, 0.05, spike_period=0))
    rates = []
    binomial_variance = []
    for seeded in days:
        final = [row[10] for row in seeded.rows if row[10] in ("1", "2")]
        rate = final.count("2") / len(final)
        rates.append(rate)
        binomial_variance.append(rate * (1 - rate) / len(final))
    mean = sum(rates) / len(rates)
    variance = sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)
    assert variance > 3 * (sum(binomial_variance) / len(binomial_variance))
    weekend = [r for d, r in zip(days, rates, strict=True) if d.day.weekday() >= 5]
    weekdays = [r for d, r in zip(days, rates, strict=True) if d.day.weekday() < 5]
    assert sum(weekend) / len(weekend) > 1.05 * sum(weekdays) / len(weekdays)


def test_history_is_deterministic_for_a_seed(make_simulator: MakeSimulator) -> None:
    with make_simulator() as one, make_simulator() as two, make_simulator(seed=7) as other:
        first = archive(one, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)
        assert first == archive(two, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)
        assert first != archive(other, SIMULATOR_HISTORY_START, SIMULATOR_HISTORY_END)


def test_default_history_is_the_last_thirty_days(make_simulator: MakeSimulator) -> None:
    with make_simulator(history_start=None, history_end=None, messages_per_day=5) as sim:
        yesterday = today(sim) - timedelta(days=1)
        assert sim.message_count(yesterday - timedelta(days=29), yesterday) == sim.message_count()
        assert sim.message_count(yesterday - timedelta(days=29), yesterday - timedelta(29)) > 0


def test_history_in_the_future_is_refused(tmp_path: Any) -> None:
    config = simulator_config(tmp_path, history_end=date.today() + timedelta(days=2))
    with pytest.raises(ValueError, match="history_end"), run_simulator(config):
        pass


def test_state_persists_across_runs(make_simulator: MakeSimulator, tmp_path: Any) -> None:
    db_path = tmp_path / "kept.sqlite3"
    with make_simulator(db_path=db_path) as first:
        seeded = first.message_count()
        call(first, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "a" * 200})
        stock = first.counters()["stock"]
    assert stock == 100_000 - 2
    # Other seeding settings do not matter any more: the file is not seeded twice.
    with make_simulator(db_path=db_path, messages_per_day=999, seed=1) as second:
        assert second.message_count() == seeded + 1
        assert second.counters()["stock"] == stock
        assert second.sends == []
        rows = archive(second, today(second), today(second))
        assert [row["HIS_MESSAGE"] for row in rows] == ["a" * 200]


def test_the_server_stops_on_exit(make_simulator: MakeSimulator) -> None:
    with make_simulator() as sim:
        url = sim.base_url
        assert call(sim, "get-stock").status_code == 200
    with pytest.raises(httpx.ConnectError):
        HTTP.get(url, timeout=2)


def test_the_request_log(simulator: RunningSimulator) -> None:
    assert simulator.requests == []
    call(simulator, "get-stock", "GET")
    post_send(simulator, {"from": "ONIRIS", "message": "x", "to": [{"recipient": NUMBER}]})
    assert simulator.requests == [("get-stock", "GET"), ("sendsms", "POST")]


def test_the_password_is_not_in_reprs(simulator: RunningSimulator) -> None:
    assert simulator.api_pass not in repr(simulator)
    assert simulator.api_pass not in repr(simulator.config)


def test_serve_runs_until_sigterm(tmp_path: Any) -> None:
    stocks: list[str] = []

    def on_ready(sim: RunningSimulator) -> None:
        stocks.append(call(sim, "get-stock").text)
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()

    serve(simulator_config(tmp_path), on_ready=on_ready)
    assert stocks == ["100000"]


# -- faults ----------------------------------------------------------------------------------


def test_server_error_fires_count_times_then_recovers(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("server_error", count=2))
    for _ in range(2):
        answer = call(simulator, "get-stock")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("text/html")
        assert "<html>" in answer.text
    assert call(simulator, "get-stock").text == "100000"


def test_server_error_status_is_configurable_and_nothing_is_sent(
    simulator: RunningSimulator,
) -> None:
    simulator.add_fault(Fault("server_error", http_status=502, actions=frozenset({"sendsms"})))
    assert call(simulator, "get-stock").status_code == 200  # not a matching action
    answer = call(simulator, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "x"})
    assert answer.status_code == 502
    assert simulator.sends == []
    assert (
        call(simulator, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "x"}).json()[
            "status"
        ]
        == 0
    )


def test_rate_limit_answers_429_with_retry_after(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("rate_limit", retry_after=3, actions=frozenset({"list-archive"})))
    answer = call(simulator, "list-archive", dateFrom=DAY.isoformat(), dateTo=DAY.isoformat())
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "3"
    assert archive(simulator, DAY, DAY)


def test_slow_answers_late_then_recovers(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("slow", delay=2.0))
    with pytest.raises(httpx.ReadTimeout):
        call(simulator, "get-stock", timeout=0.2)
    assert call(simulator, "get-stock").text == "100000"


def test_slow_answers_in_the_end(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("slow", delay=0.1))
    assert call(simulator, "get-stock").text == "100000"


@pytest.mark.parametrize("action", ["list-archive", "get-contact-total", "sendsms"])
def test_truncated_json_is_cut(simulator: RunningSimulator, action: str) -> None:
    simulator.add_fault(Fault("truncated_json"))
    params = {"dateFrom": DAY.isoformat(), "dateTo": DAY.isoformat()}
    if action == "sendsms":
        params = {"from": "ONIRIS", "to": NUMBER, "message": "x"}
    answer = call(simulator, action, **params)
    assert answer.status_code == 200
    assert answer.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    call(simulator, action, **params).json()


def test_truncated_bare_number_is_empty(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("truncated_json", actions=frozenset({"get-stock"})))
    assert call(simulator, "get-stock").content == b""
    assert call(simulator, "get-stock").text == "100000"


def test_drop_after_send_stores_the_send_and_gives_no_answer(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("drop_after_send", actions=frozenset({"sendsms"})))
    payload = {"from": "ONIRIS", "message": "Bonjour", "to": [{"recipient": NUMBER}]}
    before = simulator.message_count()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post_send(simulator, payload)
    assert simulator.sends == [("ONIRIS", [(NUMBER, "Bonjour")])]
    assert simulator.message_count() == before + 1
    assert simulator.counters()["stock"] == 100_000 - 1
    assert post_send(simulator, payload)["status"] == 0


def test_bad_html_answers_200_with_a_page(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("bad_html"))
    answer = call(simulator, "get-send")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith("<html>")
    assert call(simulator, "get-send").text.isdigit()


def test_faults_armed_at_start_and_in_order(make_simulator: MakeSimulator) -> None:
    faults = (Fault("rate_limit"), Fault("server_error", http_status=500))
    with make_simulator(faults=faults) as sim:
        assert call(sim, "get-stock").status_code == 429
        assert call(sim, "get-stock").status_code == 500
        assert call(sim, "get-stock").status_code == 200
        sim.add_fault(Fault("server_error", count=5))
        sim.clear_faults()
        assert call(sim, "get-stock").status_code == 200


def test_faults_are_logged_as_requests(simulator: RunningSimulator) -> None:
    simulator.add_fault(Fault("server_error"))
    call(simulator, "get-stock")
    assert simulator.requests == [("get-stock", "POST")]


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("rate_limit", Fault("rate_limit")),
        ("rate_limit:3", Fault("rate_limit", count=3)),
        ("slow:2:delay=0.5", Fault("slow", count=2, delay=0.5)),
        (
            "server_error:http_status=502:actions=list-archive,get-stock",
            Fault(
                "server_error", http_status=502, actions=frozenset({"list-archive", "get-stock"})
            ),
        ),
        ("rate_limit:retry-after=7", Fault("rate_limit", retry_after=7)),
    ],
)
def test_fault_parse(spec: str, fault: Fault) -> None:
    assert Fault.parse(spec) == fault


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("explode", "unknown fault kind"),
        ("slow:delay", "expected key=value"),
        ("slow:colour=red", "unknown fault option"),
        ("rate_limit:0", "at least 1"),
    ],
)
def test_fault_parse_refuses_bad_specs(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault.parse(spec)


def test_every_fault_kind_is_documented() -> None:
    assert set(FAULT_KINDS) == {
        "server_error",
        "rate_limit",
        "slow",
        "truncated_json",
        "drop_after_send",
        "bad_html",
    }
    assert all(kind in (Fault.__doc__ or "") for kind in FAULT_KINDS)


def test_config_validates_its_values(tmp_path: Any) -> None:
    for bad in (
        {"paging": "pages"},
        {"empty_page": "nothing"},
        {"failure_rate": 1.5},
        {"max_page_size": 0},
        {"history_start": date(2025, 3, 2), "history_end": date(2025, 3, 1)},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SimulatorConfig(db_path=tmp_path / "x.sqlite3", **bad)


def test_pages_at_any_offset_agree_with_the_whole(simulator: RunningSimulator) -> None:
    first, last = SIMULATOR_HISTORY_START, today(simulator)
    everything = archive(simulator, first, last)
    # Read on page by page (the simulator remembers where pages end), with a send midway...
    rows: list[dict[str, str]] = []
    for _ in range(len(everything)):  # bounded: a paging bug must not hang the suite
        page = archive(simulator, first, last, **{"from": len(rows), "to": 9})
        if not page:
            break
        rows.extend(page)
        if len(rows) == 18:
            call(simulator, "sendsms", **{"from": "ONIRIS", "to": NUMBER, "message": "ok"})
    assert rows[: len(everything)] == everything
    assert [row["HIS_MESSAGE"] for row in rows[len(everything) :]] == ["ok"]
    # ... then jump around: the same rows whichever way a page is reached.
    everything = archive(simulator, first, last)
    for offset in (27, 3, 0, 18, 50, 9, len(everything) - 2):
        assert (
            archive(simulator, first, last, **{"from": offset, "to": 9})
            == (everything[offset : offset + 9])
        ), offset


def test_the_archive_fields_are_the_libraries() -> None:
    assert ARCHIVE_FIELDS == models.ARCHIVE_FIELDS


def test_the_public_names() -> None:
    assert sorted(simulator_package.__all__) == [
        "ARCHIVE_FIELDS",
        "FAULT_KINDS",
        "Fault",
        "FaultKind",
        "Outage",
        "RequestRecord",
        "RunningSimulator",
        "SendRecord",
        "SimulatorConfig",
        "Spike",
        "free_port",
        "run_simulator",
        "serve",
    ]


def test_free_port_can_be_bound(make_simulator: MakeSimulator) -> None:
    port = free_port()
    with make_simulator(port=port) as sim:
        assert sim.port == port
        assert call(sim, "get-stock").text == "100000"
