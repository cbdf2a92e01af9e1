"""Helpers of the campaign tests: a valid campaign, with any field overridden."""

from typing import Any

from smspresto_pipeline.campaigns import Campaign

#: The fields of a valid campaign; tests override what they are about.
CAMPAIGN_FIELDS: dict[str, Any] = {
    "name": "reminder",
    "sql": "select recipient, dedup_key, first_name, parcel from contacts",
    "template": "Bonjour {{ first_name }}, votre colis {{ parcel }} est arrivé.",
    "sender": "MaBoutique",
}


def make_campaign(**overrides: Any) -> Campaign:
    """A :class:`Campaign` of :data:`CAMPAIGN_FIELDS` with ``overrides``."""
    return Campaign(**{**CAMPAIGN_FIELDS, **overrides})
