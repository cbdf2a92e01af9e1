"""Checks on the warehouse: failure-rate spikes judged with the day's volume, data quality.

`find_failure_spikes` is plain statistics over a warehouse of either engine, a port session or
an engine's own connection, a DuckDB connection to any file included (no Dagster): per segment
(the account, each sender, each carrier) it tests the day's failures against a trailing
baseline, and says ``WARN``, ``ERROR`` or nothing, with a sentence for people.
`check_data_quality` runs the data-quality rules of a day in SQL. The Dagster asset checks that
call them live in ``smspresto_pipeline.checks.definitions`` (imported on its own, so that this
package stays free of Dagster).
"""

from smspresto_pipeline.checks.quality import QualityResult, check_data_quality
from smspresto_pipeline.checks.spikes import (
    SpikeConfig,
    SpikeFinding,
    assess_history,
    find_failure_spikes,
    wilson_interval,
)

__all__ = [
    "QualityResult",
    "SpikeConfig",
    "SpikeFinding",
    "assess_history",
    "check_data_quality",
    "find_failure_spikes",
    "wilson_interval",
]
