"""The Postgres resource: one DSN, psycopg 3 connections, and the same database as a JDBC URL.

Analysis tables live in the ``pinterest`` schema of the database the DSN names. The JDBC form
lets Spark read those tables back (the PostgreSQL driver is on the session's classpath).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import dagster as dg
from pydantic import Field

SCHEMA = "pinterest"


class PostgresResource(dg.ConfigurableResource):
    """A PostgreSQL database reached through a libpq DSN (``postgresql://user@host:port/db``).

    ``connect()`` opens a psycopg 3 connection for one unit of work: leaving the ``with`` block
    commits, an exception rolls back, and the connection is closed either way.
    """

    dsn: str = Field(description="libpq connection string, e.g. postgresql://postgres@127.0.0.1:5432/pinterest")
    connect_timeout: int = Field(default=10, description="seconds to wait for a connection")
    application_name: str = Field(default="pinterest-pipeline")

    @classmethod
    def from_settings(cls, settings=None) -> "PostgresResource":
        """The resource for ``PINTEREST_PG_DSN`` (or the local stack's Postgres), read now."""
        from pinterest_assets.settings import get_settings

        return cls(dsn=(settings or get_settings()).postgres_dsn)

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator["psycopg.Connection"]:  # noqa: F821
        import psycopg

        try:
            conn = psycopg.connect(
                self.dsn,
                autocommit=autocommit,
                connect_timeout=self.connect_timeout,
                application_name=self.application_name,
            )
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise dg.Failure(
                f"cannot connect to PostgreSQL at {self.safe_dsn()} ({reason}); "
                "start the local stack with `pinterest stack up` or point PINTEREST_PG_DSN at your server"
            ) from exc
        with conn:  # commit on success, rollback on error, close at the end
            yield conn

    def conninfo(self) -> dict:
        from psycopg.conninfo import conninfo_to_dict

        return conninfo_to_dict(self.dsn)

    def safe_dsn(self) -> str:
        """The DSN without its password, for messages."""
        info = self.conninfo()
        user = info.get("user", "")
        return f"postgresql://{user}@{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"

    def jdbc_url(self) -> str:
        """``jdbc:postgresql://host:port/db`` for Spark (credentials go in :meth:`jdbc_properties`)."""
        info = self.conninfo()
        host = info.get("host") or "localhost"
        if "," in host:
            raise ValueError(f"multi-host DSNs are not supported for JDBC: {self.safe_dsn()}")
        port = info.get("port") or "5432"
        dbname = info.get("dbname") or info.get("user") or "postgres"
        return f"jdbc:postgresql://{host}:{port}/{quote(dbname)}"

    def jdbc_properties(self) -> dict[str, str]:
        info = self.conninfo()
        props = {"driver": "org.postgresql.Driver", "user": info.get("user") or "postgres"}
        if info.get("password"):
            props["password"] = info["password"]
        if info.get("sslmode"):
            props["sslmode"] = info["sslmode"]
        return props
