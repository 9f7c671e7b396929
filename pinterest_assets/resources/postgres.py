"""The Postgres resource: one DSN, psycopg 3 connections, the same database as a JDBC URL.

Analysis tables live in the ``pinterest`` schema of the database the DSN names. The JDBC form
lets Spark read those tables back. The COPY and DDL helpers are in :mod:`pinterest_assets.postgres_copy`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import dagster as dg
from pydantic import Field

SCHEMA = "pinterest"
PASSWORD_ENV = "PINTEREST_PG_PASSWORD"


def _dsn_without_password(dsn: str) -> str:
    """`dsn` with its password removed (URI or key=value form)."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is None:
            return dsn
        host = parts.hostname or ""
        netloc = (parts.username or "") + "@" + host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(dsn)
    info.pop("password", None)
    return make_conninfo("", **info)
class PostgresResource(dg.ConfigurableResource):
    """A PostgreSQL database reached through a libpq DSN (``postgresql://user@host:port/db``).

    ``connect()`` opens a psycopg 3 connection for one unit of work: leaving the ``with`` block
    commits, an exception rolls back, and the connection is closed either way.
    """

    dsn: str = Field(description="libpq connection string WITHOUT a password, e.g. "
                     "postgresql://postgres@127.0.0.1:5432/pinterest")
    password: str | None = Field(
        default=None, description="the password, as dg.EnvVar('PINTEREST_PG_PASSWORD') so the UI never shows it")
    connect_timeout: int = Field(default=10, description="seconds to wait for a connection")
    application_name: str = Field(default="pinterest-pipeline")

    @classmethod
    def from_settings(cls, settings=None) -> "PostgresResource":
        """The resource for ``PINTEREST_PG_DSN`` (or the local stack's Postgres), read now.

        Resource config is shown in the Dagster UI and stored with runs, so a password never goes
        into it: it is taken out of the DSN into ``PINTEREST_PG_PASSWORD`` (this process's
        environment, inherited by the run workers it starts) and referenced as a ``dg.EnvVar``.
        """
        import os

        from psycopg.conninfo import conninfo_to_dict

        from pinterest_assets.settings import get_settings

        dsn = (settings or get_settings()).postgres_dsn
        info = conninfo_to_dict(dsn)
        secret = info.pop("password", None)
        if secret:
            os.environ.setdefault(PASSWORD_ENV, secret)
            dsn = _dsn_without_password(dsn)
        if os.environ.get(PASSWORD_ENV):
            return cls(dsn=dsn, password=dg.EnvVar(PASSWORD_ENV))
        return cls(dsn=dsn)

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator["psycopg.Connection"]:  # noqa: F821
        conn = self.open(autocommit=autocommit)
        with conn:  # commit on success, rollback on error, close at the end
            yield conn

    def open(self, autocommit: bool = False, application_name: str | None = None) -> "psycopg.Connection":  # noqa: F821
        """A new connection (the password included) that the caller closes; dg.Failure naming the
        server (never the password) when it cannot connect."""
        import psycopg

        try:
            extra = {"password": self.secret()} if self.password else {}
            return psycopg.connect(
                self.dsn,
                **extra,
                autocommit=autocommit,
                connect_timeout=self.connect_timeout,
                application_name=application_name or self.application_name,
            )
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise dg.Failure(
                f"cannot connect to PostgreSQL at {self.safe_dsn()} ({reason}); "
                "start the local stack with `pinterest stack up` or point PINTEREST_PG_DSN at your server"
            ) from exc

    def secret(self) -> str | None:
        """The password (an EnvVar resolves here when the resource is used outside Dagster)."""
        if isinstance(self.password, dg.EnvVar):
            return self.password.get_value()
        return self.password

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
        password = self.secret() or info.get("password")
        if password:
            props["password"] = password
        for key in ("sslmode", "sslrootcert"):  # pgjdbc takes libpq's names (a PEM root file too)
            if info.get(key):
                props[key] = info[key]
        return props
