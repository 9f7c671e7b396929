"""Secrets kept out of what commands, logs and metadata print."""

from __future__ import annotations


def redact_dsn(dsn: str) -> str:
    """`dsn` as printable text: a password (URI userinfo, a ``password=`` parameter or keyword)
    becomes ``***``, e.g. ``postgresql://user:***@host:5432/db``. Text that does not parse is
    replaced whole, since it may hold one."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        if "://" not in dsn:
            from psycopg.conninfo import conninfo_to_dict, make_conninfo

            info = conninfo_to_dict(dsn)
            if "password" in info:
                info["password"] = "***"
            return make_conninfo("", **info)
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hosts = netloc.rpartition("@")
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
        query = parts.query
        if any(k == "password" for k, _ in parse_qsl(query, keep_blank_values=True)):
            query = urlencode([(k, "***" if k == "password" else v)
                               for k, v in parse_qsl(query, keep_blank_values=True)], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except Exception:  # noqa: BLE001 - unparseable: print nothing of it
        return "<a DSN that does not parse (not shown)>"

