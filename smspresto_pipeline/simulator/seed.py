"""Deterministic, realistic history for a new simulated account.

Each day is drawn from its own random generator (seeded by the seed and the date), so a day
holds the same messages whatever range it is seeded in. A day mixes one-off transactional
messages (codes, payments, appointments) with bulk campaigns (one text, many recipients,
the same second). Recipients are mostly Ivorian mobiles in today's ten-digit format, a few
old eight-digit Ivorian numbers (they always fail), and some from neighbouring countries.

The failure rate is over-dispersed, as a real account's is: it is not one rate with binomial
noise around it, the rate itself moves from day to day (an account-wide level with a weekly
rhythm, times a factor per sender and per carrier, each with its own day-to-day wobble; see
`day_rates`). By default one day in 13 is an account-wide failure spike (30-40 % failed), and
`Spike`s multiply a sender's or a carrier's rate on chosen days (from a time of day on, when
they say one). A very few messages get
status ``3``.
"""

import dataclasses
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta

from smspresto_pipeline.simulator.config import Spike
from smspresto_pipeline.simulator.segments import count_segments

__all__ = [
    "CARRIERS",
    "SENDERS",
    "AccountSeed",
    "DayRates",
    "MessageRow",
    "SeededDay",
    "account_seed",
    "carrier_of",
    "day_rates",
    "day_volume",
    "seed_days",
]

#: One row of the ``messages`` table, in `insert_message.sql`'s order.
MessageRow = tuple[str, str, str, str, str, str, int, str, str, int, str, float]

_POOL_SIZE = 3000
# One day in every 13 is a failure spike: any range of 13 days or more holds one.
_SPIKE_PERIOD = 13
_MAX_RATE = 0.95
# Spread (standard deviation of the log) of the day-to-day factors of the failure rate:
# account-wide, then per sender and per carrier on top.
_DAY_SPREAD = 0.25
_SEGMENT_SPREAD = 0.2
# Monday first, mean 1: weekend traffic (campaigns to phones left off) fails a little more.
_WEEKDAY_RATE = (0.95, 0.92, 0.92, 0.95, 1.0, 1.1, 1.16)
_UNKNOWN_STATUS_RATE = 0.003
# Monday first; normalised below so that the mean weekday factor is 1.
_WEEKDAY_FACTORS = (1.1, 1.05, 1.05, 1.1, 1.15, 0.7, 0.45)
_WEEKDAY_MEAN = sum(_WEEKDAY_FACTORS) / 7
_HOUR_WEIGHTS = (
    1, 0, 0, 0, 0, 1, 3, 8, 12, 14, 13, 12, 10, 9, 11, 12, 12, 11, 10, 8, 6, 4, 3, 2
)  # fmt: skip
_HOURS = tuple(range(24))

_FIRST_NAMES = (
    "Aya", "Adjoua", "Affoué", "Akissi", "Amenan", "Awa", "Fatou", "Mariam", "Hélène", "Zoé",
    "Estelle", "Bérénice", "Kouassi", "Koffi", "Yao", "Konan", "Kouadio", "Ibrahim", "Mamadou",
    "Seydou", "Rémi", "Joël", "Jérôme", "Adrien", "Franck", "Serge", "Désiré", "Noël",
)  # fmt: skip
_LAST_NAMES = (
    "Diarrassouba", "Kouamé", "Koné", "Traoré", "Ouattara", "Bamba", "Coulibaly", "N'Guessan",
    "Yao", "Touré", "Diabaté", "Kouadio", "Aka", "Brou", "Soro", "Cissé", "Fofana", "Doumbia",
    "Sanogo", "Tanoh", "Dago", "Gnagne", "Zadi", "Séri", "Gnahoré", "Ahoua", "Assié", "Leman",
)  # fmt: skip

# (share, prefix, digits after the prefix, carrier): the national ten-digit format dominates.
# The carrier is the number range's operator, named as phonenumbers names it.
_NUMBER_PLANS = (
    (0.42, "+22507", 8, "Orange"),  # Orange CI
    (0.28, "+22505", 8, "MTN"),  # MTN CI
    (0.17, "+22501", 8, "Moov"),  # Moov CI
    (0.03, "+22508", 6, "Orange"),  # Ivorian numbers from before the 2021 move to ten digits
    (0.03, "+22177", 7, "Orange"),  # Senegal
    (0.02, "+2237", 7, "Orange"),  # Mali
    (0.02, "+2267", 7, "Moov Africa"),  # Burkina Faso
    (0.015, "+23324", 7, "MTN"),  # Ghana
    (0.015, "+2289", 7, "Togo Telecom"),  # Togo
)  # fmt: skip
# How each carrier's failure rate compares with the account's (a long-run factor).
_CARRIER_RATE = {"Orange": 0.9, "MTN": 1.0, "Moov": 1.3, "Moov Africa": 1.6, "Togo Telecom": 1.6}
_OLD_FORMAT_PREFIX = "+22508"

# Transactional messages: one recipient each.
_TRANSACTIONAL = (
    ("BANQUEXYZ", "Cher(e) {name}, votre compte ****{last4} a été crédité de {amount} FCFA le "
                  "{day}. Solde disponible : {balance} FCFA."),
    ("BANQUEXYZ", "Votre code de vérification est {code}. Il expire dans 10 minutes. "
                  "Ne le communiquez à personne."),
    ("CLINIQUE", "Bonjour {name}, votre rendez-vous à la clinique est confirmé le {day} à "
                 "{time}. Merci de vous présenter 15 min avant."),
    ("PHARMAPLUS", "Bonjour {name}, votre commande n°{ref} est prête. Retrait à la pharmacie "
                   "avant 19h. Reçu envoyé par e-mail."),
    ("oniris", "test"),
    ("EAUPLUS", "Facture n°{ref} : {amount} FCFA, échéance le {day}. Payez par mobile money "
                "pour éviter la coupure."),
)  # fmt: skip

# Campaigns: one text (or one personalised text) for many recipients at once.
_CAMPAIGNS = (
    ("ONIRIS", "🎉 Promo spéciale : -20% sur tous nos forfaits internet jusqu'au {day} ! "
               "Répondez STOP pour ne plus recevoir."),
    ("ONIRIS", "Bonjour {name}, votre forfait arrive à échéance. Rechargez dès maintenant "
               "et bénéficiez de 10% de bonus."),
    ("ECOLESTJEAN", "Chers parents d'élèves, nous vous informons que la réunion du conseil "
                     "de classe aura lieu le {day} à {time} dans la grande salle. La présence "
                     "d'au moins un parent est vivement souhaitée. Merci de confirmer votre "
                     "participation auprès du secrétariat. La direction."),
    ("MAIRIE", "Avis : une campagne de vaccination gratuite se tiendra le {day} au centre de "
               "santé du quartier. Munissez-vous de votre carnet. Merci ❤️"),
    ("ASSURCI", "Cher(e) {name}, votre garantie habitation sera renouvelée le {day}. "
                "Montant : {amount} FCFA. Pour toute question, appelez le service client."),
    ("CLINIQUE", "Rappel : la clinique sera fermée le {day} pour inventaire. Urgences : "
                 "contactez le garçon de garde au standard. Merci de votre compréhension."),
)  # fmt: skip
# How each sender's failure rate compares with the account's (a long-run factor): bulk
# marketing lists fail more than a bank's one-time codes.
_SENDER_RATE = {
    "BANQUEXYZ": 0.6, "CLINIQUE": 0.8, "PHARMAPLUS": 0.8, "oniris": 1.0, "EAUPLUS": 1.0,
    "ONIRIS": 1.4, "ECOLESTJEAN": 1.1, "MAIRIE": 1.2, "ASSURCI": 0.9,
}  # fmt: skip

#: The seeded senders and carriers, in a fixed order.
SENDERS: tuple[str, ...] = tuple(sorted(_SENDER_RATE))
CARRIERS: tuple[str, ...] = tuple(sorted(_CARRIER_RATE))


@dataclasses.dataclass(frozen=True, slots=True)
class AccountSeed:
    """The account's reference and the counters the archive does not determine."""

    account_ref: str
    contacts: int
    groups: int
    orders: int
    bills: int
    scheduled: int
    predefined: int


@dataclasses.dataclass(frozen=True, slots=True)
class SeededDay:
    """One seeded day: its rows, its account-wide failure rate, and whether a spike (periodic
    or injected) was planned on it."""

    day: date
    rows: list[MessageRow]
    failure_rate: float
    spike: bool


@dataclasses.dataclass(frozen=True, slots=True)
class DayRates:
    """The failure-rate model of one seeded day.

    A message from ``sender`` to a number of ``carrier`` fails with probability
    ``level * senders[sender] * carriers[carrier]`` (at most 95 %): ``level`` is the day's
    account-wide rate (the configured mean times a weekday factor and a day-to-day factor, or
    a spike's 30-40 %), the factors are each sender's and carrier's long-run factor times its
    own day-to-day factor, times any `Spike` of the day.
    """

    level: float
    senders: Mapping[str, float]
    carriers: Mapping[str, float]

    def rate(self, sender: str, carrier: str) -> float:
        """The probability that a message of ``sender`` to ``carrier`` fails."""
        factor = self.senders.get(sender, 1.0) * self.carriers.get(carrier, 1.0)
        return min(_MAX_RATE, self.level * factor)


def _wobble(rng: random.Random, spread: float) -> float:
    # Log-normal with mean 1: the day's factor moves the rate without biasing its mean.
    return math.exp(rng.gauss(0.0, spread) - spread * spread / 2)


def day_rates(
    seed: int,
    day: date,
    failure_rate: float,
    spikes: Sequence[Spike] = (),
    spike_level: float | None = None,
) -> DayRates:
    """The failure-rate model of ``day`` (`DayRates`), drawn from its own generator.

    ``spike_level`` replaces the account-wide level (a periodic spike day); ``spikes`` of
    that day multiply the level (``all``) or a sender's or carrier's factor.
    """
    rng = random.Random(f"{seed}:{day.isoformat()}:rates")  # noqa: S311 (reproducible data)
    level = failure_rate * _WEEKDAY_RATE[day.weekday()] * _wobble(rng, _DAY_SPREAD)
    senders = {name: _SENDER_RATE[name] * _wobble(rng, _SEGMENT_SPREAD) for name in SENDERS}
    carriers = {name: _CARRIER_RATE[name] * _wobble(rng, _SEGMENT_SPREAD) for name in CARRIERS}
    if spike_level is not None:
        level = spike_level
    for spike in spikes:
        if spike.day != day:
            continue
        kind, _, name = spike.segment.partition(":")
        if kind == "all":
            level *= spike.factor
        elif kind == "sender":
            senders[name] = senders.get(name, 1.0) * spike.factor
        else:
            carriers[name] = carriers.get(name, 1.0) * spike.factor
    return DayRates(level=level, senders=senders, carriers=carriers)


@dataclasses.dataclass(frozen=True, slots=True)
class _Recipient:
    number: str
    name: str
    first_name: str
    carrier: str


_PLAN_SHARES = [plan[0] for plan in _NUMBER_PLANS]


def carrier_of(number: str) -> str | None:
    """The carrier of ``number``'s range among the seeded plans (``None``: no plan's)."""
    for _, prefix, digits, carrier in _NUMBER_PLANS:
        if number.startswith(prefix) and len(number) == len(prefix) + digits:
            return carrier
    return None


def _new_recipient(rng: random.Random) -> _Recipient:
    _, prefix, digits, carrier = rng.choices(_NUMBER_PLANS, weights=_PLAN_SHARES)[0]
    number = prefix + "".join(rng.choices("0123456789", k=digits))
    first = rng.choice(_FIRST_NAMES)
    named = rng.random() < 0.85
    name = f"{rng.choice(_LAST_NAMES)} {first}" if named else ""
    return _Recipient(number, name, first if named else "client", carrier)


def _recipient_pool(seed: int, size: int = _POOL_SIZE) -> list[_Recipient]:
    rng = random.Random(f"{seed}:recipients")  # noqa: S311 (reproducible data, not secrets)
    pool: list[_Recipient] = []
    seen: set[str] = set()
    while len(pool) < size:
        recipient = _new_recipient(rng)
        if recipient.number not in seen:
            seen.add(recipient.number)
            pool.append(recipient)
    return pool


def account_seed(seed: int) -> AccountSeed:
    """The account reference and side counters for ``seed``."""
    rng = random.Random(f"{seed}:account")  # noqa: S311 (reproducible data, not secrets)
    pool = _recipient_pool(seed)
    return AccountSeed(
        account_ref="SP225" + "".join(rng.choices("0123456789", k=8)),
        contacts=sum(1 for r in pool if r.name),
        groups=rng.randint(5, 25),
        orders=rng.randint(5, 40),
        bills=rng.randint(5, 30),
        scheduled=rng.randint(0, 12),
        predefined=rng.randint(3, 20),
    )


def _format_amount(value: int) -> str:
    # French grouping with a plain space: "125 000".
    return f"{value:,}".replace(",", " ")


def _fill(template: str, rng: random.Random, day: date, who: _Recipient) -> str:
    if "{" not in template:
        return template
    return template.format(
        name=who.first_name,
        last4=f"{rng.randrange(10000):04d}",
        amount=_format_amount(rng.randrange(1, 400) * 500),
        balance=_format_amount(rng.randrange(1, 4000) * 250),
        code=f"{rng.randrange(1000000):06d}",
        ref=str(rng.randrange(10000, 99999)),
        day=(day + timedelta(days=rng.randrange(1, 15))).strftime("%d/%m/%Y"),
        time=f"{rng.randrange(8, 18)}h{rng.choice(('00', '15', '30', '45'))}",
    )


def day_volume(rng: random.Random, day: date, messages_per_day: int) -> int:
    """How many messages ``day`` holds: ``messages_per_day``, the weekly rhythm, +-25 %."""
    factor = _WEEKDAY_FACTORS[day.weekday()] / _WEEKDAY_MEAN
    return max(0, round(messages_per_day * factor * rng.uniform(0.75, 1.25)))


def _seed_day(
    seed: int,
    day: date,
    messages_per_day: int,
    failure_rate: float,
    pool: list[_Recipient],
    queue_start: int,
    spikes: Sequence[Spike],
    spike_period: int,
) -> SeededDay:
    rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 (reproducible data, not secrets)
    periodic = spike_period > 0 and (day.toordinal() + seed) % spike_period == 0
    spike_level = rng.uniform(0.30, 0.40) if periodic else None
    rates = day_rates(seed, day, failure_rate, spikes, spike_level)
    spike = periodic or any(s.day == day for s in spikes)
    remaining = day_volume(rng, day, messages_per_day)
    midnight = datetime(day.year, day.month, day.day)

    batches: list[tuple[datetime, str, str, list[_Recipient]]] = []
    while remaining > 0:
        hour = rng.choices(_HOURS, weights=_HOUR_WEIGHTS)[0]
        at = midnight + timedelta(hours=hour, seconds=rng.randrange(3600))
        if rng.random() < 0.45 or remaining < 5:
            sender, template = rng.choice(_TRANSACTIONAL)
            size = 1
        else:
            sender, template = rng.choice(_CAMPAIGNS)
            size = min(remaining, rng.randint(5, max(5, messages_per_day // 3)))
        if pool:
            chosen = rng.sample(pool, min(size, len(pool)))
        else:  # a marketing list: every message to a number not seen before
            chosen = [_new_recipient(rng) for _ in range(size)]
        batches.append((at, sender, template, chosen))
        remaining -= len(chosen)
    batches.sort(key=lambda batch: batch[0])

    rows: list[MessageRow] = []
    created_date = day.isoformat()
    # A spike with a start time leaves the messages created before it at the rates without it.
    timed = [s for s in spikes if s.day == day and s.start is not None]
    rate_tables: dict[tuple[Spike, ...], dict[tuple[str, str], float]] = {}
    for queue_id, (at, sender, template, recipients) in enumerate(batches, start=queue_start):
        active = tuple(s for s in timed if s.affects(at))
        if active not in rate_tables:
            inactive = set(timed) - set(active)
            active_rates = day_rates(
                seed,
                day,
                failure_rate,
                [s for s in spikes if s not in inactive],
                spike_level,
            )
            rate_tables[active] = {
                (s, c): active_rates.rate(s, c) for s in SENDERS for c in CARRIERS
            }
        rate_of = rate_tables[active]
        created = at.isoformat(" ")
        shared = None if "{name}" in template else _fill(template, rng, day, recipients[0])
        shared_segments = count_segments(shared) if shared is not None else 0
        for index, who in enumerate(recipients):
            if shared is None:
                text = _fill(template, rng, day, who)
                segments = count_segments(text)
            else:
                text, segments = shared, shared_segments
            delay = timedelta(seconds=1 + index // 100 + int(rng.random() * 3))
            sent = (at + delay).isoformat(" ")
            rate = rate_of[sender, who.carrier]
            if who.number.startswith(_OLD_FORMAT_PREFIX) or rng.random() < rate:
                status = "2"
            elif rng.random() < _UNKNOWN_STATUS_RATE:
                status = "3"
            else:
                status = "1"
            rows.append(
                (
                    created_date,
                    created,
                    sent,
                    created,
                    who.number,
                    text,
                    segments,
                    sender,
                    who.name,
                    queue_id,
                    status,
                    0.0,
                )
            )
    return SeededDay(day=day, rows=rows, failure_rate=rates.level, spike=spike)


def seed_days(
    seed: int,
    start: date,
    end: date,
    messages_per_day: int,
    failure_rate: float,
    recipient_pool: int = _POOL_SIZE,
    *,
    spikes: Sequence[Spike] = (),
    spike_period: int = _SPIKE_PERIOD,
) -> Iterator[SeededDay]:
    """Yield the seeded days from ``start`` to ``end`` inclusive, in order.

    Queue ids (``IDSMSFILATTENTE``) run on across days, one per batch. Recipients are drawn
    from ``recipient_pool`` numbers (0: a new number for every message). One day in
    ``spike_period`` (0: none) is an account-wide spike; ``spikes`` are added on their days.
    """
    pool = _recipient_pool(seed, recipient_pool)
    queue_id = 1
    day = start
    while day <= end:
        seeded = _seed_day(
            seed, day, messages_per_day, failure_rate, pool, queue_id, spikes, spike_period
        )
        if seeded.rows:
            queue_id = seeded.rows[-1][9] + 1
        yield seeded
        day += timedelta(days=1)
