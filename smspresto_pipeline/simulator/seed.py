"""Deterministic, realistic history for a new simulated account.

Each day is drawn from its own random generator (seeded by the seed and the date), so a day
holds the same messages whatever range it is seeded in. A day mixes one-off transactional
messages (codes, payments, appointments) with bulk campaigns (one text, many recipients,
the same second). Recipients are mostly Ivorian mobiles in today's ten-digit format, a few
old eight-digit Ivorian numbers (they always fail), and some from neighbouring countries.
One day in 13 is a failure spike (30-40 % failed); a very few messages get status ``3``.
"""

import dataclasses
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from smspresto_pipeline.simulator.segments import count_segments

__all__ = ["AccountSeed", "MessageRow", "SeededDay", "account_seed", "seed_days"]

#: One row of the ``messages`` table, in `insert_message.sql`'s order.
MessageRow = tuple[str, str, str, str, str, str, int, str, str, int, str, float]

_POOL_SIZE = 3000
# One day in every 13 is a failure spike: any range of 13 days or more holds one.
_SPIKE_PERIOD = 13
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

# (share, prefix, digits after the prefix): the national ten-digit format dominates.
_NUMBER_PLANS = (
    (0.42, "+22507", 8),  # Orange CI
    (0.28, "+22505", 8),  # MTN CI
    (0.17, "+22501", 8),  # Moov CI
    (0.03, "+22508", 6),  # Ivorian numbers from before the 2021 move to ten digits
    (0.03, "+22177", 7),  # Senegal
    (0.02, "+2237", 7),  # Mali
    (0.02, "+2267", 7),  # Burkina Faso
    (0.015, "+23324", 7),  # Ghana
    (0.015, "+2289", 7),  # Togo
)  # fmt: skip
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
    """One seeded day: its rows and its planned failure rate."""

    day: date
    rows: list[MessageRow]
    failure_rate: float
    spike: bool


@dataclasses.dataclass(frozen=True, slots=True)
class _Recipient:
    number: str
    name: str
    first_name: str


_PLAN_SHARES = [plan[0] for plan in _NUMBER_PLANS]


def _new_recipient(rng: random.Random) -> _Recipient:
    _, prefix, digits = rng.choices(_NUMBER_PLANS, weights=_PLAN_SHARES)[0]
    number = prefix + "".join(rng.choices("0123456789", k=digits))
    first = rng.choice(_FIRST_NAMES)
    named = rng.random() < 0.85
    name = f"{rng.choice(_LAST_NAMES)} {first}" if named else ""
    return _Recipient(number, name, first if named else "client")


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


def _day_volume(rng: random.Random, day: date, messages_per_day: int) -> int:
    factor = _WEEKDAY_FACTORS[day.weekday()] / _WEEKDAY_MEAN
    return max(0, round(messages_per_day * factor * rng.uniform(0.75, 1.25)))


def _seed_day(
    seed: int,
    day: date,
    messages_per_day: int,
    failure_rate: float,
    pool: list[_Recipient],
    queue_start: int,
) -> SeededDay:
    rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 (reproducible data, not secrets)
    spike = (day.toordinal() + seed) % _SPIKE_PERIOD == 0
    rate = rng.uniform(0.30, 0.40) if spike else failure_rate
    remaining = _day_volume(rng, day, messages_per_day)
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
    for queue_id, (at, sender, template, recipients) in enumerate(batches, start=queue_start):
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
    return SeededDay(day=day, rows=rows, failure_rate=rate, spike=spike)


def seed_days(
    seed: int,
    start: date,
    end: date,
    messages_per_day: int,
    failure_rate: float,
    recipient_pool: int = _POOL_SIZE,
) -> Iterator[SeededDay]:
    """Yield the seeded days from ``start`` to ``end`` inclusive, in order.

    Queue ids (``IDSMSFILATTENTE``) run on across days, one per batch. Recipients are drawn
    from ``recipient_pool`` numbers (0: a new number for every message).
    """
    pool = _recipient_pool(seed, recipient_pool)
    queue_id = 1
    day = start
    while day <= end:
        seeded = _seed_day(seed, day, messages_per_day, failure_rate, pool, queue_id)
        if seeded.rows:
            queue_id = seeded.rows[-1][9] + 1
        yield seeded
        day += timedelta(days=1)
