"""The lake's Iceberg catalog: Iceberg's JDBC catalog in the stack's PostgreSQL (schema ``iceberg``),
warehouse = the lake URI.

Spark registers it as a catalog named :attr:`LakeResource.catalog_name` (``lake`` for the
configured lake); pyiceberg's SQL catalog reads the same tables (``iceberg_tables``) with the same
name, so both see one set of tables.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlparse

CATALOG_SCHEMA = "iceberg"


def ensure_catalog_schema(dsn: str) -> None:
    """Create the catalog's schema in PostgreSQL if it is missing (Iceberg creates its tables in it)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {CATALOG_SCHEMA}")


def jdbc_url(dsn: str) -> tuple[str, dict[str, str]]:
    """(JDBC URL with ``currentSchema``, {user, password}) of a libpq URI."""
    parsed = urlparse(dsn)
    query = dict(parse_qsl(parsed.query))
    query["currentSchema"] = CATALOG_SCHEMA
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 5432
    url = f"jdbc:postgresql://{host}:{port}{parsed.path or '/postgres'}?{urlencode(query)}"
    auth = {"user": parsed.username or "postgres"}
    if parsed.password:
        auth["password"] = parsed.password
    return url, auth


def spark_catalog_conf(name: str, warehouse: str, dsn: str) -> dict[str, str]:
    """Spark properties of an Iceberg JDBC catalog called `name`."""
    url, auth = jdbc_url(dsn)
    prefix = f"spark.sql.catalog.{name}"
    conf = {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": url,
        f"{prefix}.warehouse": warehouse,
        # every read sees the catalog's current commit: other processes (Dagster runs) commit too
        f"{prefix}.cache-enabled": "false",
        # the catalog table's schema with views (Spark's tableExists asks for views too)
        f"{prefix}.jdbc.schema-version": "V1",
    }
    conf.update({f"{prefix}.jdbc.{k}": v for k, v in auth.items()})
    return conf


def register_catalog(spark, name: str, warehouse: str, dsn: str) -> None:
    """Make catalog `name` known to this SparkSession (once; Spark loads it on first use)."""
    key = f"spark.sql.catalog.{name}"
    if spark.conf.get(key, None):
        return
    ensure_catalog_schema(dsn)
    for k, v in spark_catalog_conf(name, warehouse, dsn).items():
        spark.conf.set(k, v)
