"""Both clients take their settings from one declaration and make the same use of each."""

import asyncio
import inspect
import logging
from typing import Any

import httpx

from smspresto_pipeline import AsyncSMSPrestoClient, SMSPrestoClient


def _hook(_: object) -> None:
    pass


# One value per setting, none of them its default: a setting that reaches only one client, or
# neither, shows below.
VALUES: dict[str, Any] = {
    "api_key": "SP22558371758",
    "api_pass": "p@ss word",
    "base_url": "http://sms.test/v2/",
    "timeout": httpx.Timeout(3.0, connect=1.0),
    "max_retries": 1,
    "backoff_base": 0.25,
    "backoff_max": 2.0,
    "batch_size": 7,
    "default_region": "FR",
    "method": "GET",
    "page_size": 9,
    "transport": httpx.MockTransport(lambda _: httpx.Response(200)),
    "event_hooks": {"request": [_hook], "response": [_hook]},
    "logger": logging.getLogger("smspresto_pipeline.tests.settings"),
}


def seen(client: SMSPrestoClient | AsyncSMSPrestoClient) -> dict[str, object]:
    """Where each setting ends up inside a client."""
    core, http = client._core, client._http
    return {
        "api_key": core._credentials["user"],
        "api_pass": core._credentials["pass"],
        "base_url": client.base_url,
        "timeout": http.timeout,
        "max_retries": core.max_retries,
        "backoff_base": core.backoff_base,
        "backoff_max": core.backoff_max,
        "batch_size": core.batch_size,
        "default_region": core.default_region,
        "method": core.method,
        "page_size": core.page_size,
        "transport": http._transport,
        "event_hooks": http.event_hooks,
        "logger": core.log,
    }


def test_both_clients_declare_the_same_settings() -> None:
    declared = [
        [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]
        for cls in (SMSPrestoClient, AsyncSMSPrestoClient)
    ]
    assert declared[0] == declared[1]
    assert [name for name, _, _ in declared[0]] == list(VALUES), "give a new setting a VALUE"
    positional = [name for name, kind, _ in declared[0] if kind.name == "POSITIONAL_OR_KEYWORD"]
    assert positional == ["api_key", "api_pass", "base_url"]


def test_every_setting_reaches_both_clients() -> None:
    sync, async_ = SMSPrestoClient(**VALUES), AsyncSMSPrestoClient(**VALUES)
    try:
        assert seen(sync) == VALUES
        assert seen(async_) == VALUES
    finally:
        sync.close()
        asyncio.run(async_.aclose())


def test_both_clients_show_the_same_repr() -> None:
    with SMSPrestoClient("SP22558371758", "p@ss", "http://sms.test/v2/") as sync:
        text = repr(sync)
    async_ = AsyncSMSPrestoClient("SP22558371758", "p@ss", "http://sms.test/v2/")
    asyncio.run(async_.aclose())
    assert text == "SMSPrestoClient(base_url='http://sms.test/v2/', api_key='SP…58')"
    assert repr(async_) == "Async" + text


def test_the_dagster_resource_passes_every_setting_it_has() -> None:
    """Each client setting a Dagster user can give (all but the in-process objects) reaches
    the clients the resource makes."""
    from smspresto_pipeline.resources import SMSPrestoResource

    in_process = {"transport", "event_hooks", "logger"}
    values = {name: value for name, value in VALUES.items() if name not in in_process}
    values["timeout"] = 3.0
    assert set(SMSPrestoResource.model_fields) >= set(values)
    resource = SMSPrestoResource(**values)
    expected = {**values, "timeout": httpx.Timeout(3.0)}
    with resource.get_client() as sync:
        assert {name: seen(sync)[name] for name in values} == expected
    async_ = resource.get_async_client()
    try:
        assert {name: seen(async_)[name] for name in values} == expected
    finally:
        asyncio.run(async_.aclose())
