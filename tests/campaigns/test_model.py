"""The Campaign model: defaults, and one clear error naming the field for each bad value."""

from typing import Annotated, Any

import dagster as dg
import pydantic
import pytest
from campaign_fixtures import CAMPAIGN_FIELDS

import smspresto_pipeline.campaigns
from smspresto_pipeline.campaigns import Campaign
from smspresto_pipeline.campaigns.model import FrequencyCap, QuietHours

GOOD = CAMPAIGN_FIELDS


def _errors(**overrides: Any) -> list[tuple[str, str]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        Campaign(**{**GOOD, **overrides})
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_the_package_exports_campaign_its_component_and_its_definitions() -> None:
    assert smspresto_pipeline.campaigns.__all__ == [
        "Campaign",
        "CampaignComponent",
        "build_campaign_defs",
        "build_reconcile_defs",
        "build_shared_campaign_defs",
    ]
    # The README and the `type:` of a defs.yaml name the same class.
    assert smspresto_pipeline.campaigns.CampaignComponent is smspresto_pipeline.CampaignComponent


def test_defaults() -> None:
    campaign = Campaign(**GOOD)
    assert campaign.minimum_interval_seconds == 300
    assert campaign.default_region == "CI"
    assert campaign.timezone == "Africa/Abidjan"
    assert campaign.quiet_hours is None
    assert campaign.frequency_cap is None
    assert campaign.dry_run is False
    assert campaign.send_on_first_activation is False
    assert campaign.smart_encoding is False
    assert campaign.max_segments == 3
    assert campaign.validity_seconds == 86_400
    assert campaign.volume_breaker_factor == 5.0
    assert (campaign.sensor_name, campaign.job_name) == (
        "reminder_sensor",
        "reminder_send",
    )


def test_every_field_is_described() -> None:
    for model in (Campaign, QuietHours, FrequencyCap):
        for name, field in model.model_fields.items():
            assert field.description, (model.__name__, name)
            assert len(field.description) > 20, (model.__name__, name)


def test_it_is_frozen_and_refuses_unknown_fields() -> None:
    campaign = Campaign(**GOOD)
    with pytest.raises(pydantic.ValidationError):
        campaign.sender = "Other"
    assert _errors(max_per_hour=3) == [("max_per_hour", "Extra inputs are not permitted")]


def test_the_sender_is_stripped() -> None:
    assert Campaign(**{**GOOD, "sender": "  MaBoutique "}).sender == "MaBoutique"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", "Failed Reminder", "lowercase letters, digits and _"),
        ("name", "1st", "start with a letter"),
        ("name", "a" * 49, "at most 48"),
        ("name", "reminder-2", "got 'reminder-2'"),
        ("sql", "  ", "sql is empty"),
        ("template", "", "the template is empty"),
        ("template", "Bonjour\n{{ first_name ", "line 2"),
        ("template", "{% if x %}oui", "line 1"),
        ("sender", "Ma Super Boutique", "at most 11"),
        ("sender", "Ma-Boutique", "ASCII letters, digits and single spaces"),
        ("sender", "+1234567890123456", "at most 15 digits"),
        ("sender", "", "empty"),
        ("minimum_interval_seconds", 5, "between 30 and 86400, got 5"),
        ("max_per_run", 0, "between 1 and 1000000, got 0"),
        ("max_per_day", 0, "between 1 and 10000000"),
        ("max_segments", 11, "between 1 and 10"),
        ("validity_seconds", 10, "between 60 and 2592000"),
        ("volume_breaker_factor", 1.0, "more than 1"),
        ("volume_breaker_min_rows", 0, "at least 1"),
        ("default_region", "XX", "two-letter ISO code"),
        ("timezone", "Abidjan", "IANA time zone"),
        ("dry_run", "maybe", "valid boolean"),
        ("max_per_run", "many", "valid integer"),
    ],
)
def test_a_bad_field_names_itself(field: str, value: object, says: str) -> None:
    errors = _errors(**{field: value})
    assert len(errors) == 1, errors
    where, message = errors[0]
    assert where == field
    assert says in message


def test_several_bad_fields_are_reported_together() -> None:
    fields = {where for where, _ in _errors(name="X", sender="", timezone="Nowhere")}
    assert fields == {"name", "sender", "timezone"}


def test_the_region_is_upper_cased() -> None:
    assert Campaign(**{**GOOD, "default_region": "sn"}).default_region == "SN"


def test_quiet_hours() -> None:
    campaign = Campaign(**{**GOOD, "quiet_hours": {"start": "21:30", "end": "7:05"}})
    assert campaign.quiet_hours == QuietHours(start="21:30", end="07:05")
    assert str(campaign.quiet_hours.end_time) == "07:05:00"


@pytest.mark.parametrize(
    ("quiet", "where", "says"),
    [
        ({"start": "25:00", "end": "07:00"}, "quiet_hours.start", "HH:MM"),
        ({"start": "21:00", "end": "7h"}, "quiet_hours.end", "HH:MM"),
        # YAML 1.1 reads an unquoted 22:00 as 1320
        ({"start": 1320, "end": "07:00"}, "quiet_hours.start", "in quotes"),
        ({"start": "08:00", "end": "08:00"}, "quiet_hours", "must have a length"),
        ({"start": "21:00"}, "quiet_hours.end", "Field required"),
    ],
)
def test_bad_quiet_hours(quiet: dict[str, object], where: str, says: str) -> None:
    errors = _errors(quiet_hours=quiet)
    assert len(errors) == 1, errors
    assert errors[0][0] == where
    assert says in errors[0][1]


def test_frequency_cap() -> None:
    campaign = Campaign(**{**GOOD, "frequency_cap": {"max_messages": 2}})
    assert campaign.frequency_cap == FrequencyCap(max_messages=2, window_seconds=86_400)
    errors = _errors(frequency_cap={"max_messages": 0, "window_seconds": 1})
    assert {where for where, _ in errors} == {
        "frequency_cap.max_messages",
        "frequency_cap.window_seconds",
    }


def test_errors_do_not_echo_the_whole_input() -> None:
    # pydantic would show the whole template (or a query) after the reason
    template = "Private offer for our best client\nBonjour {{ name }}\n{{ amount "
    with pytest.raises(pydantic.ValidationError) as caught:
        Campaign(**{**GOOD, "template": template, "max_per_run": "lots of private text"})
    assert "line 3" in str(caught.value)
    assert "Private offer" not in str(caught.value)
    assert "lots of private text" not in str(caught.value)


def _mirror() -> type[Any]:
    """A Resolvable model declaring Campaign's fields, as the campaign component will."""
    fields: dict[str, Any] = {
        name: (field.rebuild_annotation(), field) for name, field in Campaign.model_fields.items()
    }
    # Dagster renders {{ ... }} in YAML strings (for {{ env.X }}): the message template must be
    # taken as written.
    fields["template"] = (
        Annotated[
            str,
            dg.Resolver(
                lambda context, value: value, model_field_type=str, inject_before_resolve=False
            ),
        ],
        Campaign.model_fields["template"],
    )
    return pydantic.create_model("Mirror", __base__=(dg.Resolvable, dg.Model), **fields)


def test_a_yaml_component_can_mirror_the_fields_one_for_one() -> None:
    # The campaign component will declare Campaign's fields as its YAML attributes: each field's
    # type must be one Dagster resolves from YAML as it is.
    attributes = {
        **GOOD,
        "quiet_hours": {"start": "22:00", "end": "06:00"},
        "frequency_cap": {"max_messages": 1},
        "dry_run": True,
    }
    resolved = _mirror().resolve_from_dict(attributes)
    campaign = Campaign(**{name: getattr(resolved, name) for name in Campaign.model_fields})
    assert campaign == Campaign(**attributes)
    assert campaign.template == GOOD["template"]
