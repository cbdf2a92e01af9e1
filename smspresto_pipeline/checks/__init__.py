"""Checks on the warehouse: failure-rate spikes judged with the day's volume.

`find_failure_spikes` is plain statistics over a DuckDB connection (no Dagster): per segment
(the account, each sender, each carrier) it tests the day's failures against a trailing
baseline, and says ``WARN``, ``ERROR`` or nothing, with a sentence for people.
"""

from smspresto_pipeline.checks.spikes import (
    SpikeConfig,
    SpikeFinding,
    assess_history,
    find_failure_spikes,
    wilson_interval,
)

__all__ = [
    "SpikeConfig",
    "SpikeFinding",
    "assess_history",
    "find_failure_spikes",
    "wilson_interval",
]
