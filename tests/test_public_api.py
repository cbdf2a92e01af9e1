"""The package's public surface (DESIGN.md §2) is pinned: it changes only on purpose."""

import subprocess
import sys

import pytest

import smspresto_pipeline

PUBLIC_NAMES = [
    "ARCHIVE_FIELDS",
    "AccountCounters",
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
    "name", ["SMSPrestoResource", "SMSPrestoIngestComponent", "CampaignComponent"]
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
    ("old", "new", "name"),
    [
        ("smspresto_pipeline.resource", "smspresto_pipeline.resources", "WarehouseResource"),
        ("smspresto_pipeline.assets", "smspresto_pipeline.ingest.assets", "build_smspresto_assets"),
        (
            "smspresto_pipeline.schedules",
            "smspresto_pipeline.ingest.schedules",
            "build_ingest_schedule",
        ),
    ],
)
def test_modules_named_in_earlier_readmes_still_import(old: str, new: str, name: str) -> None:
    # A fresh interpreter: the warning is given once, when the old module is first imported.
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        f"assert getattr(old, {name!r}) is getattr(new, {name!r})\n"
        "assert old.__all__ == new.__all__\n"
        "assert [w.category for w in caught] == [DeprecationWarning], caught\n"
        f"assert {new!r} in str(caught[0].message)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
