"""What sending must remember: the outbox, opt-outs, activations and the circuit breaker's state.

One idea: a campaign sends each message at most once and never to a number that opted out, so
everything a send decides on is written down before the request and read back after it, in the
same warehouse as the history (``smspresto`` schema) but apart from it, over the storage port
(each part takes the warehouse and runs its SQL files in the sessions of its ``database``):

* ``outbox`` (:class:`Outbox`): one row per intended SMS, claimed under its unique
  (campaign, dedup_key) before any request, then marked along a state machine;
* ``opt_outs`` (:class:`OptOuts`): numbers never to message, whatever sends; ``replies`` reads
  the stop requests in a CSV of received replies;
* ``activations`` (:class:`CampaignActivations`): when each campaign was first switched on,
  recorded with its baseline;
* ``breaker`` (:class:`CircuitBreaker`): every campaign pauses while a trip is active;
  :func:`record_check_outcome` lets a check trip and clear it.

No Dagster here: the campaigns' Dagster face (``smspresto_pipeline.campaigns``) names its jobs
and passes what it shows (e.g. how to resume) as parameters.
"""

from smspresto_pipeline.sending.activations import (
    Activation,
    CampaignActivations,
    CampaignOverview,
)
from smspresto_pipeline.sending.breaker import (
    BreakerState,
    CircuitBreaker,
    Trip,
    record_check_outcome,
)
from smspresto_pipeline.sending.opt_outs import OptOut, OptOutChange, OptOuts, ReplyImport
from smspresto_pipeline.sending.outbox import (
    OUTBOX_STATES,
    Outbox,
    OutboxMessage,
    OutboxRow,
    OutboxState,
)

__all__ = [
    "OUTBOX_STATES",
    "Activation",
    "BreakerState",
    "CampaignActivations",
    "CampaignOverview",
    "CircuitBreaker",
    "OptOut",
    "OptOutChange",
    "OptOuts",
    "Outbox",
    "OutboxMessage",
    "OutboxRow",
    "OutboxState",
    "ReplyImport",
    "Trip",
    "record_check_outcome",
]
