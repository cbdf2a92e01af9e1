"""The Dagster resources keep their secrets out of what a run shows: reprs, logs, errors."""

import dagster as dg
import pytest

from smspresto_pipeline import SMSPrestoResource

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
