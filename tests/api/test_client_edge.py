"""Client edge cases a real server cannot be made to produce, through ``httpx.MockTransport``."""

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from smspresto_pipeline import (
    AmbiguousSendError,
    AsyncSMSPrestoClient,
    AuthenticationError,
    InvalidMessageError,
    InvalidRecipientError,
    InvalidSenderError,
    ProtocolError,
    SMSPrestoClient,
    SMSPrestoError,
    TransientError,
)
from smspresto_pipeline.api.paging import ArchivePaginator
from smspresto_pipeline.api.redaction import Redactor, install_httpx_log_filter, mask

KEY = "SP22558371758"
PASSWORD = "p@ss word/é&1"
Handler = Callable[[httpx.Request], httpx.Response]


def fields(request: httpx.Request) -> dict[str, Any]:
    """The request's parameters, from the query string or the form (and its `data` JSON)."""
    raw = request.url.query if request.method == "GET" else request.content
    found: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    if "data" in found:
        found.update(json.loads(found.pop("data")))
    return found


class Recorder:
    """A MockTransport handler that records requests and replays a script of answers."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)


def make_client(handler: Recorder, **options: Any) -> SMSPrestoClient:
    settings: dict[str, Any] = {"backoff_base": 0.001, **options}
    return SMSPrestoClient(
        KEY, PASSWORD, "http://sms.test/console/api/", transport=httpx.MockTransport(handler),
        **settings,
    )  # fmt: skip


def ok_send(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "0", "message": "ok", "message-count": "1"})


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry delays instead of sleeping them."""
    delays: list[float] = []
    monkeypatch.setattr("smspresto_pipeline.api.client.time.sleep", delays.append)
    return delays


# -- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1, AuthenticationError),
        (10, AuthenticationError),
        ("11", AuthenticationError),
        (100, InvalidSenderError),
        (101, InvalidSenderError),
        (102, InvalidRecipientError),
        ("103", InvalidMessageError),
        (999, SMSPrestoError),
    ],
)
def test_every_error_code_maps_to_its_class(code: int | str, cls: type[SMSPrestoError]) -> None:
    answer = httpx.Response(200, json={"status": code, "message": "Refusé"})
    calls: list[Callable[[SMSPrestoClient], object]] = [
        SMSPrestoClient.get_stock,
        SMSPrestoClient.get_bill_total,
        lambda client: client.send_sms("Oniris", ["0708081488"], "Bonjour"),
    ]
    for call in calls:
        handler = Recorder(answer)
        with make_client(handler) as client, pytest.raises(SMSPrestoError) as caught:
            call(client)
        assert type(caught.value) is cls
        assert caught.value.code == int(code)
        assert caught.value.api_message == "Refusé"
        assert len(handler.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="10000"),
        httpx.Response(200, text=" 10000\n"),
        httpx.Response(200, json=10000),
        httpx.Response(200, json="10000"),
        httpx.Response(200, json={"TOTAL": "10000"}),
        httpx.Response(200, json={"TOTAL": 10000}),
    ],
)
def test_counters_accept_every_number_shape(answer: httpx.Response) -> None:
    with make_client(Recorder(answer)) as client:
        assert client.get_stock() == 10000
        assert client.get_predefined_total() == 10000


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text=f"<html><body>pass={PASSWORD}</body></html>"),
        httpx.Response(200, json={"TOTAL": "ten"}),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json=True),
        httpx.Response(200, text='{"TOTAL": "4'),
    ],
)
def test_undocumented_answers_are_protocol_errors(answer: httpx.Response) -> None:
    handler = Recorder(answer)
    with make_client(handler, max_retries=2) as client, pytest.raises(ProtocolError) as caught:
        client.get_contact_total()
    assert caught.value.action == "get-contact-total"
    assert "get-contact-total" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert len(handler.requests) == 3  # a read may repeat: the answer is often a cut connection


@pytest.mark.parametrize(
    "body",
    [
        '[{"IDHISTORIQUE": "7", "HIS_MESSAGE": "Réunion à 9h"}]'.encode(),
        '\ufeff[{"IDHISTORIQUE": "7", "HIS_MESSAGE": "Réunion à 9h"}]'.encode(),
        '[{"IDHISTORIQUE": "7", "HIS_MESSAGE": "Réunion à 9h"}]'.encode("utf-16"),
    ],
    ids=["utf-8", "utf-8 with a byte-order mark", "utf-16"],
)
def test_archive_pages_in_every_json_encoding(body: bytes) -> None:
    answers = Recorder(httpx.Response(200, content=body), httpx.Response(200, content=b"[]"))
    with make_client(answers) as client:
        rows = list(client.iter_archive("2024-05-01", "2024-05-01"))
    assert [(r.history_id, r.message) for r in rows] == [(7, "Réunion à 9h")]


def test_archive_rows_must_carry_their_id() -> None:
    answer = httpx.Response(200, json=[{"HIS_MESSAGE": "x"}])
    with (
        make_client(Recorder(answer)) as client,
        pytest.raises(ProtocolError, match="list-archive"),
    ):
        list(client.iter_archive("2024-05-01", "2024-05-01"))


def test_a_refusal_by_http_status_is_not_retried() -> None:
    handler = Recorder(httpx.Response(404, text="<h1>Not Found</h1>"))
    with make_client(handler) as client, pytest.raises(ProtocolError) as caught:
        client.get_stock()
    assert caught.value.http_status == 404
    assert len(handler.requests) == 1


def test_an_api_error_in_a_4xx_keeps_its_code() -> None:
    handler = Recorder(httpx.Response(401, json={"status": 11, "message": "Invalid password"}))
    with make_client(handler) as client, pytest.raises(AuthenticationError) as caught:
        client.get_stock()
    assert (caught.value.code, caught.value.http_status) == (11, 401)


# -- retries -------------------------------------------------------------------------------


def test_backoff_is_capped_full_jitter_and_honours_retry_after(no_sleep: list[float]) -> None:
    handler = Recorder(
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "0.5"}),
        httpx.Response(503),
        httpx.Response(200, text="7"),
    )
    with make_client(handler, backoff_base=0.1, backoff_max=0.6) as client:
        assert client.get_stock() == 7
    assert len(no_sleep) == 4
    assert 0 <= no_sleep[0] <= 0.1
    assert 0 <= no_sleep[1] <= 0.2
    assert 0.5 <= no_sleep[2] <= 0.6
    assert 0 <= no_sleep[3] <= 0.6  # 0.1 * 2**3 = 0.8, capped


def test_retry_after_beyond_the_cap_fails_at_once() -> None:
    handler = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
    with make_client(handler) as client, pytest.raises(TransientError) as caught:
        client.get_stock()
    assert caught.value.retry_after == 3600
    assert len(handler.requests) == 1


def test_retry_after_as_an_http_date() -> None:
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, text="5"),
    )
    with make_client(handler) as client:
        assert client.get_stock() == 5


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("closed"),
    ],
)
def test_reads_retry_network_failures(error: Exception) -> None:
    handler = Recorder(error, httpx.Response(200, text="3"))
    with make_client(handler) as client:
        assert client.get_failed() == 3
    assert len(handler.requests) == 2


def test_reads_give_up_with_a_transient_error() -> None:
    handler = Recorder(httpx.ReadTimeout("slow"))
    with make_client(handler, max_retries=3) as client, pytest.raises(TransientError):
        client.get_sent()
    assert len(handler.requests) == 4


# -- sends ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("busy")],
)
def test_send_that_never_left_is_retried(error: Exception) -> None:
    handler = Recorder(error, ok_send)
    with make_client(handler) as client:
        assert client.send_sms("Oniris", ["0708081488"], "Bonjour").message_count == 1
    assert len(handler.requests) == 2


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("closed"),
        httpx.WriteError("broken pipe"),
        httpx.WriteTimeout("stuck"),
    ],
)
def test_send_that_may_have_arrived_is_ambiguous_and_not_resent(error: Exception) -> None:
    handler = Recorder(error, ok_send)
    with make_client(handler) as client, pytest.raises(AmbiguousSendError) as caught:
        client.send_sms("Oniris", ["0708081488"], "Bonjour")
    assert caught.value.recipients == ("+2250708081488",)
    assert len(handler.requests) == 1


def test_send_refused_by_http_status_is_not_ambiguous() -> None:
    handler = Recorder(httpx.Response(403, text="Forbidden"))
    with make_client(handler) as client, pytest.raises(ProtocolError) as caught:
        client.send_sms("Oniris", ["0708081488"], "Bonjour")
    assert not isinstance(caught.value, AmbiguousSendError)
    assert len(handler.requests) == 1


def test_send_with_an_unusable_url_is_not_ambiguous() -> None:
    with (
        SMSPrestoClient(KEY, PASSWORD, "ftp://sms.test/") as client,
        pytest.raises(SMSPrestoError) as caught,
    ):
        client.send_sms("Oniris", ["0708081488"], "Bonjour")
    assert not isinstance(caught.value, AmbiguousSendError | TransientError)


def test_send_payload_shapes() -> None:
    handler = Recorder(ok_send)
    with make_client(handler) as client:
        client.send_sms("Oniris", ["0708081488", "0102030405"], "Un")
        client.send_messages("Oniris", [("0708081488", "A"), ("0102030405", "B")])
        client.send_sms("Oniris", ["0708081488", "0102030405"], "Deux", method="GET")
    one, two, get = (fields(r) for r in handler.requests)
    assert set(handler.requests[0].url.params) == set()
    assert one == {
        "user": KEY,
        "pass": PASSWORD,
        "action": "sendsms",
        "from": "Oniris",
        "message": "Un",
        "to": [{"recipient": "+2250708081488"}, {"recipient": "+2250102030405"}],
    }
    assert two["to"] == [
        {"recipient": "+2250708081488", "message": "A"},
        {"recipient": "+2250102030405", "message": "B"},
    ]
    assert "message" not in two
    assert get["to"] == "+2250708081488,+2250102030405"
    assert handler.requests[2].method == "GET"


def test_requests_carry_user_agent_and_a_timeout() -> None:
    handler = Recorder(httpx.Response(200, text="1"))
    with make_client(handler) as client:
        client.get_stock()
    request = handler.requests[0]
    assert request.headers["User-Agent"].startswith("smspresto-pipeline/")
    assert request.extensions["timeout"]["read"] == 10.0
    assert PASSWORD not in str(request.url)


# -- paging --------------------------------------------------------------------------------

ROWS = [{"IDHISTORIQUE": str(i), "HIS_MESSAGE": f"m{i}"} for i in range(1, 24)]
BIG = [{"IDHISTORIQUE": str(i), "HIS_MESSAGE": f"m{i}"} for i in range(1, 2001)]


def paged(serve: Callable[[int, int], list[dict[str, str]]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        params = fields(request)
        return httpx.Response(200, json=serve(int(params["from"]), int(params["to"])))

    return handler


@pytest.mark.parametrize(
    "serve",
    [
        lambda lo, hi: ROWS[lo : hi + 1],  # start and end, end included: page_size + 1 rows
        lambda lo, hi: ROWS[lo:hi],  # start and end, end excluded
        lambda lo, hi: ROWS[lo : lo + hi],  # offset and count
        lambda lo, hi: ROWS[lo : lo + 3],  # pages capped by the server
        lambda lo, hi: ROWS[max(0, lo - 2) : hi],  # overlapping pages
    ],
    ids=["inclusive-range", "exclusive-range", "limit", "capped", "overlapping"],
)
def test_paging_under_every_reading(serve: Callable[[int, int], list[dict[str, str]]]) -> None:
    with make_client(Recorder(paged(serve))) as client:
        ids = [r.history_id for r in client.iter_archive("2024-05-01", "2024-05-02", 5)]
    assert ids == list(range(1, 24))


@pytest.mark.parametrize(
    ("serve", "reading"),
    [
        (lambda lo, hi: BIG[lo : hi + 1], "indexes"),
        (lambda lo, hi: BIG[lo:hi], "indexes"),
        (lambda lo, hi: BIG[lo : lo + hi], "count"),
    ],
    ids=["inclusive-range", "exclusive-range", "limit"],
)
def test_pages_stay_bounded_under_every_reading(
    serve: Callable[[int, int], list[dict[str, str]]], reading: str
) -> None:
    """docs/architecture.md §3: no page beyond page_size (+1 for an inclusive end), whatever from/to
    mean; read as a count, `to = from + page_size` would double the pages."""
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = fields(request)
        page = serve(int(params["from"]), int(params["to"]))
        sizes.append(len(page))
        return httpx.Response(200, json=page)

    with make_client(Recorder(handler)) as client:
        ids = [r.history_id for r in client.iter_archive("2024-05-01", "2024-05-01", 50)]
    assert ids == list(range(1, len(BIG) + 1))
    assert max(sizes) <= 51, sizes
    assert len(sizes) <= len(BIG) // 50 + 3, "about one request per page"
    paginator = ArchivePaginator(50)
    while paginator.has_next_page:
        params = paginator.request_params()
        paginator.update_state(serve(int(params["from"]), int(params["to"])))
    assert paginator.reading == reading


def test_a_count_reading_is_remembered_and_nothing_else() -> None:
    """A client's later walks skip the half page once a walk proved the count reading; the
    indexes reading taken by default (a count-reading server whose day ran out) is not carried
    over, or a larger day would come in doubling pages."""
    small = BIG[:30]  # read as a count: 25 rows, then 5: nothing shows the reading
    by_day = {"2024-05-01": small, "2024-05-02": BIG, "2024-05-03": BIG}
    asked: list[tuple[str, int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = fields(request)
        lo, hi = int(params["from"]), int(params["to"])
        page = by_day[params["dateFrom"]][lo : lo + hi]
        asked.append((params["dateFrom"], hi, len(page)))
        return httpx.Response(200, json=page)

    with make_client(Recorder(handler)) as client:
        for day, rows in by_day.items():
            ids = [r.history_id for r in client.iter_archive(day, day, 50)]
            assert ids == [int(row["IDHISTORIQUE"]) for row in rows]
    first_to = {day: next(hi for d, hi, _ in asked if d == day) for day in by_day}
    assert first_to == {"2024-05-01": 25, "2024-05-02": 25, "2024-05-03": 50}
    assert max(size for _, _, size in asked) <= 50
    assert sum(d == "2024-05-03" for d, _, _ in asked) == len(BIG) // 50 + 1


def test_paging_stops_when_the_server_ignores_from_and_to() -> None:
    handler = Recorder(httpx.Response(200, json=ROWS))
    with make_client(handler) as client:
        ids = [r.history_id for r in client.iter_archive("2024-05-01", "2024-05-01", 5)]
    assert ids == list(range(1, 24))
    assert len(handler.requests) == 2


def test_archive_dates_are_checked_before_any_request() -> None:
    handler = Recorder(httpx.Response(200, json=[]))
    with make_client(handler) as client:
        with pytest.raises(ValueError, match="after"):
            list(client.iter_archive("2024-05-02", "2024-05-01"))
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            list(client.iter_archive("yesterday", "2024-05-01"))
    assert handler.requests == []


# -- secrets -------------------------------------------------------------------------------


def test_httpx_errors_holding_the_url_are_redacted() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"lost {request.url}", request=request)

    with make_client(Recorder(boom), method="GET", max_retries=0) as client:
        with pytest.raises(TransientError) as caught:
            client.get_stock()
        with pytest.raises(AmbiguousSendError) as ambiguous:
            client.send_sms("Oniris", ["0708081488"], "Bonjour", method="GET")
    for error in (caught.value, ambiguous.value):
        cause = error.__cause__
        assert cause is not None
        assert "lost" in str(error)
        assert "pass=***" in str(cause), "the URL is kept, its password scrubbed"
        for text in (str(error), repr(error), str(cause), repr(cause)):
            assert "p%40ss" not in text
            assert PASSWORD not in text


def test_repr_masks_the_key_and_hides_the_password() -> None:
    with make_client(Recorder(httpx.Response(200))) as client:
        text = repr(client)
    assert text == "SMSPrestoClient(base_url='http://sms.test/console/api/', api_key='SP…58')"


def test_redactor_scrubs_plain_and_encoded_secrets() -> None:
    redact = Redactor(KEY, PASSWORD)
    text = f"user={KEY} {PASSWORD} p%40ss%20word%2F%C3%A9%261 p%40ss+word%2F%C3%A9%261"
    assert redact(text) == "user=*** *** *** ***"
    assert redact.excerpt("a\n" * 200, limit=10) == "a a a a a …"
    assert mask("short") == "***"


# -- async ---------------------------------------------------------------------------------


def test_credential_parameters_are_scrubbed_whatever_their_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A URL holding credentials this process does not know (another account's, an old
    password) loses them too: in text we build, and in httpx's own request log."""
    url = "GET http://sms.test/api/?action=get-stock&user=SP99&pass=0ld-pa55 HTTP/1.1"
    scrubbed = "GET http://sms.test/api/?action=get-stock&user=***&pass=*** HTTP/1.1"
    assert Redactor(KEY, PASSWORD)(url) == scrubbed

    install_httpx_log_filter()
    caplog.set_level("INFO", logger="httpx")
    logging.getLogger("httpx").info("HTTP Request: %s", url)
    assert caplog.messages == [f"HTTP Request: {scrubbed}"]


@pytest.mark.parametrize(
    "echo",
    [
        "<p>Bad password: p@ss word/&#233;&amp;1</p>",  # HTML, numeric entity
        "<p>Bad password: p@ss word/\u00e9&amp;1</p>",  # HTML, named entities only
        '{"error": "bad pass p@ss word\\/\\u00e9&1"}',  # JSON, ASCII escapes
        '{"error": "bad pass p@ss word/\u00e9&1"}',  # JSON, as is
        "GET ?x=p%40ss%20word%2f%c3%a9%261",  # URL, lower-case hex
    ],
)
def test_redactor_scrubs_what_a_server_may_echo(echo: str) -> None:
    redacted = Redactor(KEY, PASSWORD)(echo)
    assert "***" in redacted
    assert "ss word" not in redacted, redacted


def test_async_client_shares_the_rules() -> None:
    handler = Recorder(httpx.Response(503), httpx.Response(200, text="9"))

    async def main() -> None:
        transport = httpx.MockTransport(handler)
        async with AsyncSMSPrestoClient(
            KEY, PASSWORD, "http://sms.test/", transport=transport, backoff_base=0.001
        ) as client:
            assert await client.get_stock() == 9
            handler.answers = [httpx.ReadTimeout("slow")]
            with pytest.raises(AmbiguousSendError):
                await client.send_sms("Oniris", ["0708081488"], "Bonjour")
            handler.answers = [paged(lambda lo, hi: ROWS[lo : hi + 1])]
            pages = [p async for p in client.iter_archive_pages("2024-05-01", "2024-05-01", 5)]
            assert [r.history_id for page in pages for r in page] == list(range(1, 24))

    asyncio.run(main())
    # Pages: half a page first, then 6-row pages (inclusive end) over 23 rows, then the empty one.
    assert len(handler.requests) == 2 + 1 + 6
