"""The package's public surface (its ``__all__``, the names the README uses) is pinned: it
changes only on purpose."""

import importlib
import subprocess
import sys

import pytest

import smspresto_pipeline

PUBLIC_NAMES = [
    "ARCHIVE_FIELDS",
    "AccountCounters",
    "AlertsComponent",
    "AmbiguousSendError",
    "ArchiveRecord",
    "AsyncSMSPrestoClient",
    "AuthenticationError",
    "CampaignComponent",
    "InvalidMessageError",
    "InvalidRecipientError",
    "InvalidSenderError",
    "ProtocolError",
    "SMSPrestoClient",
    "SMSPrestoError",
    "SMSPrestoIngestComponent",
    "SMSPrestoResource",
    "SMSValidationError",
    "SendResult",
    "TransientError",
]


def test_all_is_pinned() -> None:
    assert smspresto_pipeline.__all__ == PUBLIC_NAMES


def test_every_public_name_resolves() -> None:
    for name in smspresto_pipeline.__all__:
        assert getattr(smspresto_pipeline, name) is not None, name


def test_errors_derive_from_the_base() -> None:
    for name in PUBLIC_NAMES:
        obj = getattr(smspresto_pipeline, name)
        if name.endswith("Error"):
            assert issubclass(obj, smspresto_pipeline.SMSPrestoError), name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = smspresto_pipeline.NoSuchThing


@pytest.mark.parametrize(
    "name",
    ["SMSPrestoResource", "SMSPrestoIngestComponent", "CampaignComponent", "AlertsComponent"],
)
def test_import_does_not_load_dagster_until_a_dagster_name_is_used(name: str) -> None:
    code = (
        "import sys, smspresto_pipeline\n"
        f"assert {name!r} in dir(smspresto_pipeline)\n"
        "assert 'dagster' not in sys.modules, 'dagster imported eagerly'\n"
        f"smspresto_pipeline.{name}\n"
        "assert 'dagster' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "old",
    ["smspresto_pipeline.resource", "smspresto_pipeline.assets", "smspresto_pipeline.schedules"],
)
def test_the_0_1_0_module_names_are_gone(old: str) -> None:
    # Removed after 0.1.0 (README, Changes): `resource` beside `resources` was a trap.
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)
