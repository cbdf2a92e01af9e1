"""The clients against the simulator, over real HTTP on 127.0.0.1."""

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any, Literal

import httpx
import pytest

from smspresto_pipeline import (
    AmbiguousSendError,
    AsyncSMSPrestoClient,
    AuthenticationError,
    SMSPrestoClient,
    SMSPrestoError,
    SMSValidationError,
)
from smspresto_pipeline.simulator import (
    Fault,
    RequestRecord,
    RunningSimulator,
    SendRecord,
)

API_KEY = "SP-test-key-0042"
API_PASS = "Pa55-w0rd!hush"
FIRST_DAY = date(2024, 5, 1)
LAST_DAY = date(2024, 5, 6)
COUNTER_ACTIONS = {
    "get-stock",
    "get-send",
    "get-success",
    "get-failed",
    "get-contact-total",
    "get-group-total",
    "get-order-total",
    "get-bill-total",
    "get-scheduled-total",
    "get-predefined-total",
}

MakeSimulator = Callable[..., RunningSimulator]


@pytest.fixture
def make_sim(make_simulator: Callable[..., Any]) -> Iterator[MakeSimulator]:
    """Start simulators (conftest's factory) with our credentials and a small history."""
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> RunningSimulator:
            settings: dict[str, Any] = {
                "api_key": API_KEY,
                "api_pass": API_PASS,
                "history_start": FIRST_DAY,
                "history_end": LAST_DAY,
                "messages_per_day": 37,
                "delivery_delay": 0.0,
                **overrides,
            }
            sim: RunningSimulator = stack.enter_context(make_simulator(**settings))
            return sim

        yield make


@pytest.fixture
def sim(make_sim: MakeSimulator) -> RunningSimulator:
    return make_sim()


def client_for(sim: RunningSimulator, **options: Any) -> SMSPrestoClient:
    settings: dict[str, Any] = {"backoff_base": 0.01, "timeout": 5.0, **options}
    return SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url, **settings)


def async_client_for(sim: RunningSimulator, **options: Any) -> AsyncSMSPrestoClient:
    settings: dict[str, Any] = {"backoff_base": 0.01, "timeout": 5.0, **options}
    return AsyncSMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url, **settings)


def days() -> list[date]:
    return [FIRST_DAY + timedelta(days=n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]


# -- counters ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_counters_read_all_ten_actions(
    sim: RunningSimulator, method: Literal["POST", "GET"]
) -> None:
    with client_for(sim, method=method) as client:
        counters = client.get_counters()
        one_by_one = {
            "stock": client.get_stock(),
            "sent": client.get_sent(),
            "success": client.get_success(),
            "failed": client.get_failed(),
            "contacts": client.get_contact_total(),
            "groups": client.get_group_total(),
            "orders": client.get_order_total(),
            "bills": client.get_bill_total(),
            "scheduled": client.get_scheduled_total(),
            "predefined": client.get_predefined_total(),
        }
    assert counters.as_dict() == sim.counters() == one_by_one
    assert counters.sent > 0
    assert {r.action for r in sim.requests} == COUNTER_ACTIONS
    assert {r.method for r in sim.requests} == {method}


# -- sending -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_send_sms_sends_one_text_to_every_recipient(
    sim: RunningSimulator, method: Literal["POST", "GET"]
) -> None:
    with client_for(sim) as client:
        result = client.send_sms(
            "Oniris", ["07 08 08 14 88", "+225 01 02 03 04 05"], "Bonjour à tous", method=method
        )
    expected = ("+2250708081488", "+2250102030405")
    assert result.recipients == expected
    assert (result.message_count, result.batches) == (2, 1)
    assert result.api_message == "Message sent successfully."
    assert sim.sends == [SendRecord("Oniris", [(n, "Bonjour à tous") for n in expected])]
    assert sim.requests == [RequestRecord("sendsms", method)]


def test_send_messages_sends_one_text_each(sim: RunningSimulator) -> None:
    pairs = [("0708081488", "Bonjour Awa, votre colis est prêt."), ("0102030405", "Salut Koffi")]
    with client_for(sim) as client:
        result = client.send_messages("Oniris", pairs)
    assert result.message_count == 2
    assert sim.sends == [
        SendRecord(
            "Oniris",
            [
                ("+2250708081488", "Bonjour Awa, votre colis est prêt."),
                ("+2250102030405", "Salut Koffi"),
            ],
        )
    ]


RECIPIENTS = ["0708081481", "0708081482", "0708081483", "0708081484", "0708081485"]
E164 = tuple(f"+225{n}" for n in RECIPIENTS)


def test_send_is_split_into_batches(sim: RunningSimulator) -> None:
    with client_for(sim, batch_size=2) as client:
        result = client.send_sms("Oniris", RECIPIENTS, "Rappel")
    assert (result.batches, result.message_count, result.recipients) == (3, 5, E164)
    assert [[r for r, _ in s.messages] for s in sim.sends] == [
        list(E164[0:2]),
        list(E164[2:4]),
        list(E164[4:]),
    ]


def test_invalid_input_is_refused_before_any_request(sim: RunningSimulator) -> None:
    with client_for(sim) as client:
        with pytest.raises(SMSValidationError) as bad_numbers:
            client.send_sms("Oniris", ["0708081488", "12", "not a number"], "Bonjour")
        with pytest.raises(SMSValidationError):
            client.send_sms("", ["0708081488"], "Bonjour")
        with pytest.raises(SMSValidationError):
            client.send_sms("Oniris", ["0708081488"], "")
        with pytest.raises(SMSValidationError) as bad_pairs:
            client.send_messages("Oniris", [("0708081488", "ok"), ("0708081489", " "), ("1", "x")])
        with pytest.raises(SMSValidationError):
            client.send_sms("Oniris", [], "Bonjour")
    assert len(bad_numbers.value.problems) == 2
    assert len(bad_pairs.value.problems) == 2
    assert sim.requests == []
    assert sim.sends == []


def test_send_dropped_after_acceptance_is_ambiguous_and_not_resent(sim: RunningSimulator) -> None:
    sim.add_fault(Fault("drop_after_send", actions=frozenset({"sendsms"})))
    with client_for(sim) as client, pytest.raises(AmbiguousSendError) as caught:
        client.send_sms("Oniris", RECIPIENTS[:2], "Bonjour")
    assert caught.value.recipients == E164[:2]
    assert (caught.value.sent, caught.value.not_attempted) == ((), ())
    assert len(sim.sends) == 1
    assert sim.requests == [RequestRecord("sendsms", "POST")]


@pytest.mark.parametrize("kind", ["server_error", "truncated_json", "bad_html"])
def test_unreadable_answer_to_a_send_is_ambiguous(sim: RunningSimulator, kind: Any) -> None:
    sim.add_fault(Fault(kind, actions=frozenset({"sendsms"})))
    with client_for(sim) as client, pytest.raises(AmbiguousSendError) as caught:
        client.send_sms("Oniris", RECIPIENTS[:1], "Bonjour")
    assert caught.value.recipients == E164[:1]
    assert sim.requests == [RequestRecord("sendsms", "POST")]


def test_rate_limited_send_is_retried_after_retry_after(sim: RunningSimulator) -> None:
    sim.add_fault(Fault("rate_limit", retry_after=0, actions=frozenset({"sendsms"})))
    with client_for(sim) as client:
        result = client.send_sms("Oniris", RECIPIENTS[:1], "Bonjour")
    assert result.message_count == 1
    assert len(sim.sends) == 1
    assert len(sim.requests) == 2


def test_ambiguous_batch_says_what_was_sent_and_what_was_not(sim: RunningSimulator) -> None:
    def arm_after_first_answer(response: httpx.Response) -> None:
        if len(sim.requests) == 1:
            sim.add_fault(Fault("drop_after_send"))

    hooks = {"response": [arm_after_first_answer]}
    with (
        client_for(sim, batch_size=2, event_hooks=hooks) as client,
        pytest.raises(AmbiguousSendError) as caught,
    ):
        client.send_sms("Oniris", RECIPIENTS, "Bonjour")
    error = caught.value
    assert error.sent == E164[0:2]
    assert error.recipients == E164[2:4]
    assert error.not_attempted == E164[4:]
    assert "batch 2 of 3" in str(error)
    assert len(sim.sends) == 2
    assert len(sim.requests) == 2


def test_refusal_part_way_keeps_what_was_sent(make_sim: MakeSimulator) -> None:
    sim = make_sim(initial_stock=2)
    with client_for(sim, batch_size=2) as client, pytest.raises(SMSPrestoError) as caught:
        client.send_sms("Oniris", RECIPIENTS, "Bonjour")
    assert caught.value.code == 104
    assert not isinstance(caught.value, AmbiguousSendError)
    assert caught.value.sent == E164[0:2]
    assert caught.value.not_attempted == E164[4:]
    assert len(sim.sends) == 1


@pytest.mark.parametrize(
    ("key", "password", "code"), [(API_KEY, "wrong-password", 11), ("nobody", API_PASS, 10)]
)
def test_bad_credentials_raise_authentication_error(
    sim: RunningSimulator, key: str, password: str, code: int
) -> None:
    with (
        SMSPrestoClient(key, password, sim.base_url) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.get_stock()
    assert caught.value.code == code
    assert caught.value.action == "get-stock"
    assert password not in str(caught.value)


# -- list-archive --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paging", "max_page_size", "empty_page"),
    [
        ("limit", None, "[]"),
        ("range", None, "null"),
        ("limit", 5, ""),
        ("range", 5, "[]"),
    ],
)
def test_archive_paging_loses_and_repeats_nothing(
    make_sim: MakeSimulator, paging: Any, max_page_size: int | None, empty_page: Any
) -> None:
    sim = make_sim(paging=paging, max_page_size=max_page_size, empty_page=empty_page)
    with client_for(sim) as client:
        for day in [*days(), None]:
            start, end = (day, day) if day else (FIRST_DAY, LAST_DAY)
            expected = sim.message_count(start, end)
            assert expected % 7 != 0
            ids = [r.history_id for r in client.iter_archive(start, end, page_size=7)]
            assert len(ids) == len(set(ids)) == expected, (paging, day)
            one_page = [r.history_id for r in client.iter_archive(start, end, page_size=10_000)]
            assert set(one_page) == set(ids)


def test_archive_pages_are_lists_of_records(sim: RunningSimulator) -> None:
    with client_for(sim) as client:
        pages = list(client.iter_archive_pages(FIRST_DAY, FIRST_DAY, page_size=10))
    assert all(len(page) > 0 for page in pages)
    rows = [r for page in pages for r in page]
    assert len(rows) == sim.message_count(FIRST_DAY, FIRST_DAY)
    assert all(r.created_at is not None and r.created_at.date() == FIRST_DAY for r in rows)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_empty_day_is_one_request(sim: RunningSimulator, method: Literal["POST", "GET"]) -> None:
    day = FIRST_DAY - timedelta(days=10)
    with client_for(sim, method=method) as client:
        assert list(client.iter_archive(day, day)) == []
    assert sim.requests == [RequestRecord("list-archive", method)]


# -- faults on reads -----------------------------------------------------------------------


READ_FAULTS = [
    Fault("server_error"),
    Fault("server_error", http_status=502),
    Fault("rate_limit", retry_after=0),
    Fault("slow", delay=1.0),
    Fault("truncated_json"),
    Fault("bad_html"),
]


@pytest.mark.parametrize("fault", READ_FAULTS, ids=lambda f: f"{f.kind}-{f.http_status}")
def test_reads_recover_from_faults(sim: RunningSimulator, fault: Fault) -> None:
    with client_for(sim, timeout=0.3) as client:
        expected_rows = [r.raw for r in client.iter_archive(FIRST_DAY, LAST_DAY, page_size=50)]
        expected_stock = client.get_stock()
        expected_contacts = client.get_contact_total()
        for action in ("list-archive", "get-stock", "get-contact-total"):
            sim.add_fault(Fault(fault.kind, 2, frozenset({action}), 1.0, 0, fault.http_status))
        before = len(sim.requests)
        rows = [r.raw for r in client.iter_archive(FIRST_DAY, LAST_DAY, page_size=50)]
        assert client.get_stock() == expected_stock
        assert client.get_contact_total() == expected_contacts
    assert rows == expected_rows
    # Two failed attempts per action, then the same requests as without faults.
    assert len(sim.requests) == 2 * before + 6


def test_reads_give_up_after_max_retries(sim: RunningSimulator) -> None:
    sim.add_fault(Fault("server_error", count=10))
    with client_for(sim, max_retries=2) as client, pytest.raises(SMSPrestoError) as caught:
        client.get_stock()
    assert caught.value.http_status == 503
    assert len(sim.requests) == 3


# -- secrets -------------------------------------------------------------------------------


def test_password_never_appears_in_errors_reprs_or_logs(
    make_sim: MakeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = make_sim()
    errors: list[SMSPrestoError] = []
    # Enough faults for every call of both methods to fail (a read is tried twice).
    sim.add_fault(Fault("server_error", count=4, actions=frozenset({"get-stock"})))
    sim.add_fault(Fault("truncated_json", count=4, actions=frozenset({"list-archive"})))
    sim.add_fault(Fault("drop_after_send", count=2, actions=frozenset({"sendsms"})))
    for method in ("GET", "POST"):
        with client_for(sim, method=method, max_retries=1) as client:
            assert API_PASS not in repr(client)
            for call in (
                client.get_stock,
                lambda: list(client.iter_archive(FIRST_DAY, FIRST_DAY)),
                functools.partial(client.send_sms, "Oniris", RECIPIENTS[:1], "Hi", method=method),
            ):
                try:
                    call()
                except SMSPrestoError as exc:
                    errors.append(exc)
    with SMSPrestoClient(API_KEY, "Wr0ng-hush", sim.base_url, method="GET") as client:
        with pytest.raises(AuthenticationError) as caught:
            client.get_stock()
        errors.append(caught.value)
    assert [(type(error).__name__, error.action) for error in errors] == [
        *[("TransientError", "get-stock"), ("ProtocolError", "list-archive")],
        ("AmbiguousSendError", "sendsms"),
        *[("TransientError", "get-stock"), ("ProtocolError", "list-archive")],
        ("AmbiguousSendError", "sendsms"),
        ("AuthenticationError", "get-stock"),
    ]
    texts = [caplog.text]
    for error in errors:
        chained: BaseException | None = error
        while chained is not None:
            texts += [str(chained), repr(chained)]
            chained = chained.__cause__
    for text in texts:
        assert API_PASS not in text
        assert "Wr0ng-hush" not in text
    # The GET requests were logged by httpx, with the password masked.
    assert "pass=***" in caplog.text
    assert "retry 1 of 1" in caplog.text


# -- async ---------------------------------------------------------------------------------


def test_async_counters_are_read_concurrently(sim: RunningSimulator) -> None:
    async def main() -> dict[str, int]:
        async with async_client_for(sim) as client:
            counters = await client.get_counters()
            assert await client.get_stock() == counters.stock
            return counters.as_dict()

    assert asyncio.run(main()) == sim.counters()


def test_async_counters_raise_the_api_error_itself(sim: RunningSimulator) -> None:
    async def main() -> None:
        async with AsyncSMSPrestoClient(API_KEY, "Wr0ng-hush", sim.base_url) as client:
            await client.get_counters()

    with pytest.raises(AuthenticationError) as caught:
        asyncio.run(main())
    assert caught.value.code == 11


@pytest.mark.parametrize("paging", ["limit", "range"])
def test_async_archive_paging(make_sim: MakeSimulator, paging: Any) -> None:
    sim = make_sim(paging=paging)

    async def main() -> list[int]:
        async with async_client_for(sim) as client:
            return [r.history_id async for r in client.iter_archive(FIRST_DAY, LAST_DAY, 9)]

    ids = asyncio.run(main())
    assert len(ids) == len(set(ids)) == sim.message_count(FIRST_DAY, LAST_DAY)


def test_async_send_and_ambiguous_send(sim: RunningSimulator) -> None:
    async def main() -> AmbiguousSendError:
        async with async_client_for(sim) as client:
            result = await client.send_messages("Oniris", [("0708081488", "Un")])
            assert result.message_count == 1
            sim.add_fault(Fault("drop_after_send"))
            with pytest.raises(AmbiguousSendError) as caught:
                await client.send_sms("Oniris", RECIPIENTS[:2], "Deux")
            return caught.value

    error = asyncio.run(main())
    assert error.recipients == E164[:2]
    assert len(sim.sends) == 2
    assert [r.action for r in sim.requests] == ["sendsms", "sendsms"]
