"""The examples in the campaign modules' docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = [
    "smspresto_pipeline.campaigns",
    "smspresto_pipeline.campaigns.model",
    "smspresto_pipeline.campaigns.render",
    "smspresto_pipeline.campaigns.prepare",
    "smspresto_pipeline.campaigns.timing",
    "smspresto_pipeline.campaigns.decision",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), raise_on_error=False, verbose=False)
    assert result.attempted > 0, f"{name} shows no example"
    assert result.failed == 0
