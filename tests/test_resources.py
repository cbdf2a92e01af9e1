"""The Dagster resources keep their secrets out of what a run shows: reprs, logs, errors; the
warehouse is exactly one of a path or a URL."""

import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import pytest
from campaign_fixtures import customers_campaign, failure_text
from dagster._serdes import serialize_value

from smspresto_pipeline import SMSPrestoResource
from smspresto_pipeline.campaigns import build_campaign_defs
from smspresto_pipeline.ingest.assets import (
    build_analytics_views_asset,
    build_archive_messages_asset,
)
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.storage import WarehouseOpenError, parse_target, redact_url

PASSWORD = "Zq9+s3cret/PASS&7781"
KEY = "SP22558371758"


def test_repr_and_str_hide_the_password_and_mask_the_key() -> None:
    resource = SMSPrestoResource(api_key=KEY, api_pass=PASSWORD)
    for text in (repr(resource), str(resource), f"{resource}"):
        assert PASSWORD not in text
        assert KEY not in text
        assert "api_pass='***'" in text
        assert "api_key='SP…58'" in text


def test_a_run_shows_the_resource_without_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a run the fields hold the values Dagster read from the environment."""
    monkeypatch.setenv("TEST_SMSPRESTO_KEY", KEY)
    monkeypatch.setenv("TEST_SMSPRESTO_PASS", PASSWORD)

    @dg.asset
    def shows_its_resource(context: dg.AssetExecutionContext, smspresto: SMSPrestoResource) -> None:
        assert smspresto.api_pass == PASSWORD, "the run got the secret itself"
        context.log.info(f"resource: {smspresto!r}")
        raise ValueError(f"failing with {smspresto}")

    resource = SMSPrestoResource(
        api_key=dg.EnvVar("TEST_SMSPRESTO_KEY"), api_pass=dg.EnvVar("TEST_SMSPRESTO_PASS")
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [shows_its_resource],
            resources={"smspresto": resource},
            instance=instance,
            raise_on_error=False,
        )
        records = instance.all_logs(result.run_id)
    assert not result.success
    texts = [str(record) for record in records]
    assert any("resource: SMSPrestoResource(" in text for text in texts)
    assert any("failing with base_url=" in text for text in texts)
    for text in texts:
        assert PASSWORD not in text
        assert KEY not in text


# A warehouse URL whose password must never be shown; nothing listens on its port.
DB_PASSWORD = "pg+S3cret/word&42"


def refused_url() -> str:
    """A PostgreSQL URL with a password, on a local port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://smspresto:{quote(DB_PASSWORD, safe='')}@127.0.0.1:{port}/warehouse"


#: The password as a person reads it and as the URL writes it.
DB_SECRETS = (DB_PASSWORD, quote(DB_PASSWORD, safe=""))


@pytest.mark.parametrize(
    ("given", "said"),
    [({}, "got neither"), ({"path": "w.duckdb", "url": "duckdb:///w.duckdb"}, "got both")],
)
def test_the_warehouse_is_exactly_one_of_path_or_url(given: dict[str, Any], said: str) -> None:
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"exactly one of path .* or url") as e:
        WarehouseResource(**given)
    assert said in str(e.value)


def test_a_url_given_as_a_path_is_refused_without_its_password() -> None:
    """Else the URL would name a DuckDB file, and the resource's config show its password."""
    url = refused_url()
    with pytest.raises(dg.DagsterInvalidConfigError, match="give it as url instead") as e:
        WarehouseResource(path=url)
    assert "smspresto:***@127.0.0.1" in str(e.value)
    assert not [secret for secret in DB_SECRETS if secret in str(e.value)]


def test_path_or_url_name_the_same_warehouse(tmp_path: Path) -> None:
    file = tmp_path / "w.duckdb"
    by_path = WarehouseResource(path=str(file)).get_warehouse()
    by_url = WarehouseResource(url=f"duckdb:///{file}").get_warehouse()
    assert by_path.target == by_url.target == parse_target(file)


def test_a_bad_url_is_refused_when_the_resource_is_built_without_its_password() -> None:
    url = refused_url().replace("postgresql://", "mysql://")
    with pytest.raises(ValueError, match="scheme 'mysql'") as e:
        WarehouseResource(url=url)
    assert "smspresto:***@127.0.0.1" in str(e.value)
    for secret in DB_SECRETS:
        assert secret not in str(e.value)


def test_the_resource_shows_its_url_without_the_password() -> None:
    resource = WarehouseResource(url=refused_url())
    for text in (repr(resource), str(resource), f"{resource}", str(resource.target)):
        assert "smspresto:***@127.0.0.1" in text
        for secret in DB_SECRETS:
            assert secret not in text


def test_a_refused_warehouse_url_shows_no_password_in_any_run(
    sim: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ingest, views and a campaign's send job with a warehouse that cannot be reached: each
    fails naming the warehouse, redacted, before asking the API anything; the password is in
    no event, log line, run config or captured output, and the sensor's error omits it too."""
    url = refused_url()
    monkeypatch.setenv("TEST_SMSPRESTO_WAREHOUSE_URL", url)
    smspresto = SMSPrestoResource(api_key=sim.api_key, api_pass=sim.api_pass, base_url=sim.base_url)
    resources = {
        "smspresto": smspresto,
        "warehouse": WarehouseResource(url=dg.EnvVar("TEST_SMSPRESTO_WAREHOUSE_URL")),
    }
    campaign = customers_campaign()
    defs = dg.Definitions.merge(build_campaign_defs(campaign), dg.Definitions(resources=resources))
    shown = redact_url(url)
    texts: list[str] = []
    with dg.instance_for_test() as instance:
        results = [
            dg.materialize(
                [build_archive_messages_asset(start_date="2025-03-01")],
                resources=resources,
                instance=instance,
                partition_key="2025-03-01",
                raise_on_error=False,
            ),
            dg.materialize(
                [build_analytics_views_asset(deps=())],
                resources=resources,
                instance=instance,
                raise_on_error=False,
            ),
            defs.resolve_job_def(campaign.job_name).execute_in_process(
                instance=instance, raise_on_error=False
            ),
        ]
        for result in results:
            assert not result.success
            assert shown in failure_text(result)
            run = instance.get_run_by_id(result.run_id)
            assert run is not None
            texts.append(repr(run))
            for record in instance.all_logs(result.run_id):
                texts += (str(record), repr(record), serialize_value(record))
        sensor = defs.resolve_sensor_def(campaign.sensor_name)
        context = dg.build_sensor_context(
            instance=instance, resources={"warehouse": resources["warehouse"]}
        )
        with pytest.raises(WarehouseOpenError) as refused:
            sensor(context)
        assert shown in str(refused.value)
        texts += (str(refused.value), repr(refused.value))
    assert sim.requests == []
    captured = capfd.readouterr()
    texts += (captured.out, captured.err, caplog.text)
    texts += [repr(record.__dict__) for record in caplog.records]
    assert any(shown in text for text in texts)
    for secret in DB_SECRETS:
        assert not [text for text in texts if secret in text]
