"""What the columns of the tables that assets write mean: the one place their descriptions live.

The DDL (``sql/ddl/create_<table>_table.sql``) says what a column is; this says what it holds, in
the DDL's order and with its type as the DDL writes it. The Dagster face turns a table's entry
into ``dagster/column_schema`` (the UI's and the catalog's columns). ``tests/storage/
test_table_docs.py`` creates the schema on each engine and compares the columns it finds with
these, so a column added, renamed or retyped in the DDL fails there until it is described here.
No Dagster here.
"""

from dataclasses import dataclass

__all__ = ["TABLE_DOCS", "ColumnDoc", "TableDoc", "qualified_name"]


@dataclass(frozen=True, slots=True)
class ColumnDoc:
    """One column: its name and type as the DDL writes them, and what it holds."""

    name: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class TableDoc:
    """A table of schema ``smspresto``: its name and its columns in the DDL's order."""

    name: str
    columns: tuple[ColumnDoc, ...]


def qualified_name(table: str) -> str:
    """``table`` as every statement names it, on either engine: ``smspresto.<table>``."""
    return f"smspresto.{table}"


_ACCOUNT = ColumnDoc(
    "account",
    "VARCHAR",
    "The configured account's name ('default' when the project names none): several accounts "
    "may share one warehouse.",
)

_MESSAGES = TableDoc(
    "messages",
    (
        ColumnDoc(
            "history_id",
            "BIGINT",
            "SMS Presto's id of the message (IDHISTORIQUE), unique per account.",
        ),
        ColumnDoc(
            "recipient",
            "VARCHAR",
            "The number texted, in E.164 when recipient_valid, else as the API gave it.",
        ),
        ColumnDoc("sender", "VARCHAR", "The sender name or number (HIS_EXPEDITEUR)."),
        ColumnDoc(
            "recipient_valid",
            "BOOLEAN",
            "Whether recipient is a valid number (old Ivorian numbers migrated by the 2021 rule).",
        ),
        ColumnDoc("message", "VARCHAR", "The text sent (HIS_MESSAGE)."),
        ColumnDoc("status_code", "VARCHAR", "The API's raw status (HIS_STATUT)."),
        ColumnDoc(
            "status",
            "VARCHAR",
            "The status by name: pending, delivered, failed or unknown (status_code mapped).",
        ),
        ColumnDoc("segments", "INTEGER", "SMS segments billed (HIS_NOMBRESMS)."),
        ColumnDoc(
            "created_at",
            "TIMESTAMP",
            "When the message was created, in the account's time zone (HIS_DATEHEURECREA).",
        ),
        ColumnDoc(
            "sent_at",
            "TIMESTAMP",
            "When it was sent, in the account's time zone (HIS_DATEHEUREENVOI).",
        ),
        ColumnDoc("queued_at", "TIMESTAMP", "When it was queued (IDDATEHEURE)."),
        ColumnDoc("account_ref", "VARCHAR", "The API account's reference (CPT_REF)."),
        ColumnDoc("queue_id", "VARCHAR", "The sending queue's id (IDSMSFILATTENTE)."),
        ColumnDoc("contact_name", "VARCHAR", "The contact's name in the account (NOMCONTACT)."),
        ColumnDoc(
            "country", "VARCHAR", "The recipient's country (ISO 3166 code), from the number."
        ),
        ColumnDoc("carrier", "VARCHAR", "The recipient's carrier, from the number's range."),
        _ACCOUNT,
        ColumnDoc(
            "partition_date",
            "DATE",
            "The day of creation in the account's time zone: archive_messages' partition.",
        ),
        ColumnDoc("loaded_at", "TIMESTAMP", "When the day was written, in UTC."),
    ),
)

_COUNTERS = (
    ("stock", "SMS credits left (get-stock)."),
    ("sent", "Messages sent (get-send)."),
    ("success", "Messages delivered (get-success)."),
    ("failed", "Messages failed (get-failed)."),
    ("contacts", "Contacts in the account (get-contact-total)."),
    ("groups", "Contact groups (get-group-total)."),
    ("orders", "Credit orders (get-order-total)."),
    ("bills", "Bills (get-bill-total)."),
    ("scheduled", "Scheduled sends (get-scheduled-total)."),
    ("predefined", "Predefined messages (get-predefined-total)."),
)

_ACCOUNT_SNAPSHOTS = TableDoc(
    "account_snapshots",
    (
        ColumnDoc("taken_at", "TIMESTAMP", "When the counters were read, in UTC."),
        *(ColumnDoc(name, "BIGINT", description) for name, description in _COUNTERS),
        _ACCOUNT,
    ),
)

_CAMPAIGN_PAUSES = TableDoc(
    "campaign_pauses",
    (
        ColumnDoc(
            "source",
            "VARCHAR",
            "What tripped the breaker: check:<check name>, cli:<user> or job:<job name>:<who>.",
        ),
        ColumnDoc(
            "partition_key",
            "VARCHAR",
            "The day whose check tripped it; null for a pause by hand.",
        ),
        ColumnDoc("reason", "VARCHAR", "Why the campaigns were paused."),
        ColumnDoc("tripped_at", "TIMESTAMP", "When, in UTC."),
        ColumnDoc(
            "resumed_at", "TIMESTAMP", "When the campaigns resumed, in UTC; null while paused."
        ),
        ColumnDoc(
            "resumed_by",
            "VARCHAR",
            "check:<check name> when its day passed again, else the person who resumed them.",
        ),
        ColumnDoc("resume_reason", "VARCHAR", "Why they were resumed."),
    ),
)

#: The tables that assets declare, by name (without the schema).
TABLE_DOCS: dict[str, TableDoc] = {
    doc.name: doc for doc in (_MESSAGES, _ACCOUNT_SNAPSHOTS, _CAMPAIGN_PAUSES)
}
