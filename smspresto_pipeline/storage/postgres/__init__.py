"""The PostgreSQL engine: the warehouse in a database on a server, reached by every run.

``database`` (:class:`PostgresDatabase`, :class:`PostgresSession`: the port over psycopg 3),
``connection`` (the URL checked without connecting, connections, psycopg's errors as the port's
with the password scrubbed), ``arrow`` (Arrow tables copied into temporary tables, results as
Arrow), ``read_only`` (a user's query in a read-only transaction). Its SQL in PostgreSQL's
dialect is under ``storage/sql/postgres/``. Imported only when a warehouse is on PostgreSQL
(the ``postgres`` extra installs psycopg).
"""

import psycopg

from smspresto_pipeline.storage.postgres.database import PostgresDatabase, PostgresSession

__all__ = ["ENGINE_ERRORS", "PostgresDatabase", "PostgresSession"]

#: What psycopg raises from its own connection (the one ``Session.raw`` holds).
ENGINE_ERRORS: tuple[type[Exception], ...] = (psycopg.Error,)
