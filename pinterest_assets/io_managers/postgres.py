"""The Postgres IO manager: Spark DataFrames in, SQL-ready tables ``pinterest.<asset name>`` out.

Writing (``handle_output``):

* the table is created on first write with SQL types derived from the Spark schema (bigint,
  integer, text, text[], boolean, double precision, timestamptz, ...), a primary key and the
  indexes the asset declares in its definition metadata (``primary_key``, ``indexes``);
* a daily-partitioned asset gets a ``date`` column holding the partition key and the primary key
  ``(date, <key>)``. The date must be part of the key: the same pin can be posted on several
  days, and each daily partition is the cleaned state *of that day* (newest event of the day per
  key, from ``latest_per_key``). Keying on the entity key alone would make one day's load
  overwrite or collide with another's, and re-running an old day would silently move rows
  between partitions. With ``(date, key)`` every partition is independent and replaceable; "the
  newest row per key over all days" is a ``DISTINCT ON (key) ... ORDER BY key, date DESC``
  query (or the streamed ``pin_stream`` table, which is keyed on ``unique_id`` alone);
* the partition is replaced atomically: ``DELETE ... WHERE date = <partition>`` and a bulk
  ``COPY`` of the new rows run in ONE transaction, so readers see the old day or the new day,
  never half of one, and a failed load leaves the previous state intact. Writing the same
  partition twice leaves one copy; other partitions are untouched. An unpartitioned asset
  replaces its whole table the same way;
* rows travel from Spark with ``toLocalIterator`` (one Spark partition at a time, never the
  whole frame in the driver) into psycopg 3's ``COPY ... FROM STDIN`` (``write_row``): arrays
  as Python lists, timestamps as timezone-aware UTC datetimes. (Encoding COPY text in Spark
  instead was measured and was not faster on a 2-core machine, so psycopg does the escaping.)

Reading (``load_input``) returns a Spark DataFrame read over JDBC, filtered to the requested
partition(s).

The COPY helpers here are shared with the ``pin_stream`` asset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

import dagster as dg
from pydantic import Field

from pinterest_assets.resources.postgres import SCHEMA, PostgresResource

PARTITION_COLUMN = "date"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------- Spark -> SQL types


def postgres_type(data_type) -> str:
    """The PostgreSQL column type for a Spark data type.

    Example: LongType -> ``bigint``; ArrayType(StringType) -> ``text[]``;
    TimestampType -> ``timestamptz``.
    """
    from pyspark.sql import types as T

    simple = {
        T.LongType: "bigint",
        T.IntegerType: "integer",
        T.ShortType: "smallint",
        T.ByteType: "smallint",
        T.StringType: "text",
        T.BooleanType: "boolean",
        T.DoubleType: "double precision",
        T.FloatType: "real",
        T.TimestampType: "timestamptz",
        T.TimestampNTZType: "timestamp",
        T.DateType: "date",
        T.BinaryType: "bytea",
    }
    for spark_type, sql_name in simple.items():
        if isinstance(data_type, spark_type):
            return sql_name
    if isinstance(data_type, T.DecimalType):
        return f"numeric({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        element = data_type.elementType
        if isinstance(element, (T.ArrayType, T.MapType, T.StructType, T.TimestampType, T.TimestampNTZType)):
            raise TypeError(f"arrays of {element.simpleString()} are not supported by the Postgres IO manager")
        return postgres_type(element) + "[]"
    if isinstance(data_type, (T.MapType, T.StructType)):
        return "jsonb"
    raise TypeError(f"no PostgreSQL type for Spark type {data_type.simpleString()}")


def _without_nul(col):
    """PostgreSQL text cannot hold NUL characters (COPY would reject the whole load): drop them."""
    from pyspark.sql import functions as F

    return F.translate(col, "\x00", "")


def copy_frame(df):
    """The frame as the COPY rows need it: timestamps as epoch microseconds, maps/structs as JSON.

    Epoch microseconds become timezone-aware UTC datetimes in :func:`copy_rows`, so the instant
    never depends on the Python process's or the Spark session's time zone. NUL characters are
    dropped from text (and the ``\\u0000`` escape from JSON, which jsonb rejects).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    out = []
    for field in df.schema.fields:
        col, dtype = F.col(field.name), field.dataType
        if isinstance(dtype, T.TimestampType):
            col = F.unix_micros(col)
        elif isinstance(dtype, T.TimestampNTZType):
            # wall-clock time read as session-zone time: exact with the project's UTC session
            col = F.unix_micros(F.to_timestamp(col))
        elif isinstance(dtype, T.StringType):
            col = _without_nul(col)
        elif isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.StringType):
            col = F.transform(col, _without_nul)
        elif isinstance(dtype, (T.MapType, T.StructType)):
            # an escaped backslash before "u0000" is text, not the NUL escape: keep it
            col = F.regexp_replace(F.to_json(col), r"(?<!\\)((?:\\\\)*)\\u0000", "$1")
        out.append(col.alias(field.name))
    return df.select(*out)


def copy_rows(df, prefix: Sequence = ()) -> Iterator[tuple]:
    """Rows of a Spark DataFrame for ``Copy.write_row``, streamed one Spark partition at a time.

    ``toLocalIterator`` never holds the whole frame in the driver; arrays arrive as Python lists
    and timestamps are turned into timezone-aware UTC datetimes. `prefix` values are put before
    every row (e.g. the partition date).
    """
    from pyspark.sql import types as T

    prefix = tuple(prefix)
    timestamps = [
        i + len(prefix)
        for i, f in enumerate(df.schema.fields)
        if isinstance(f.dataType, (T.TimestampType, T.TimestampNTZType))
    ]
    naive = {i + len(prefix) for i, f in enumerate(df.schema.fields) if isinstance(f.dataType, T.TimestampNTZType)}
    for row in copy_frame(df).toLocalIterator(prefetchPartitions=True):
        if not timestamps:
            yield prefix + tuple(row)
            continue
        values = [*prefix, *row]
        for i in timestamps:
            micros = values[i]
            if micros is not None:
                value = _EPOCH + dt.timedelta(microseconds=micros)
                values[i] = value.replace(tzinfo=None) if i in naive else value
        yield values


def copy_into(cursor, table: Sequence[str], columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """``COPY table (columns) FROM STDIN`` with `rows` (``write_row``); returns the rows written."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    written = 0
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def ensure_table(
    cursor,
    table: Sequence[str],
    columns: Sequence[tuple[str, str]],
    primary_key: Sequence[str],
    indexes: Sequence[str | Sequence[str]] = (),
    not_null: Sequence[str] = (),
) -> None:
    """Create schema, table (with primary key) and indexes when missing; add missing columns.

    Callers hold a transaction-scoped advisory lock on the table name, so concurrent first
    writes don't race on CREATE.
    """
    from psycopg import sql

    schema, name = table
    ident = sql.Identifier(schema, name)
    cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    missing_key = [k for k in primary_key if k not in {c for c, _ in columns}]
    if missing_key:
        raise ValueError(f"primary key column(s) {missing_key} of {schema}.{name} are not in the data")
    column_defs = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c), sql.SQL(t), sql.SQL(" NOT NULL" if c in not_null else "")
        )
        for c, t in columns
    ]
    cursor.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
            ident,
            sql.SQL(", ").join(column_defs),
            sql.SQL(", ").join(sql.Identifier(k) for k in primary_key),
        )
    )
    existing = {
        r[0]
        for r in cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        )
    }
    for c, t in columns:
        if c not in existing:
            cursor.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(ident, sql.Identifier(c), sql.SQL(t)))
    for index in indexes:
        cols = [index] if isinstance(index, str) else list(index)
        index_name = f"{name}_{'_'.join(cols)}_idx"[:63]
        cursor.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(index_name), ident, sql.SQL(", ").join(sql.Identifier(c) for c in cols)
            )
        )


def lock_table(cursor, table: Sequence[str]) -> None:
    """Serialize writers of one table (transaction-scoped advisory lock on its name)."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (".".join(table),))


# --------------------------------------------------------------------------- the IO manager


class PostgresIOManager(dg.ConfigurableIOManager):
    """Stores Spark DataFrames as tables ``<schema>.<asset name>`` in PostgreSQL (see module doc).

    Assets declare in their metadata ``primary_key`` (a column or list of columns) and optionally
    ``indexes`` (list of columns or column lists). Daily-partitioned assets get a ``date`` column
    and the primary key ``(date, <primary_key>)``.
    """

    postgres: PostgresResource
    schema_name: str = Field(default=SCHEMA, description="PostgreSQL schema holding the tables")

    # ------------------------------------------------------------------ helpers

    def _table(self, context) -> tuple[str, str]:
        return (self.schema_name, context.asset_key.path[-1])

    @staticmethod
    def _partition_dates(context) -> list[dt.date] | None:
        if not context.has_asset_partitions:
            return None
        keys = list(context.asset_partition_keys)
        try:
            return [dt.date.fromisoformat(k) for k in keys]
        except ValueError as exc:
            raise dg.Failure(
                f"the Postgres IO manager stores daily partitions (YYYY-MM-DD); got partition keys {keys[:3]}"
            ) from exc

    # ------------------------------------------------------------------ write

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        from pyspark.sql import DataFrame

        if obj is None:
            context.log.info("asset returned None: nothing written to Postgres")
            return
        if not isinstance(obj, DataFrame):
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: the Postgres IO manager stores Spark DataFrames, "
                f"got {type(obj).__name__}"
            )
        table = self._table(context)
        meta = context.definition_metadata or {}
        key = meta.get("primary_key")
        if key is None:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: declare metadata={{'primary_key': ...}} on the asset "
                "so the Postgres IO manager can create the table's primary key"
            )
        key = [key] if isinstance(key, str) else list(key)
        indexes = list(meta.get("indexes") or [])
        dates = self._partition_dates(context)
        if dates is not None and len(dates) != 1:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: one daily partition per run "
                f"(got {len(dates)}: {dates[0]}..{dates[-1]}); launch a backfill with one run per partition"
            )
        df = obj.drop(PARTITION_COLUMN) if dates is not None and PARTITION_COLUMN in obj.columns else obj
        columns = [(f.name, postgres_type(f.dataType)) for f in df.schema.fields]
        prefix: tuple = ()
        if dates is not None:
            columns = [(PARTITION_COLUMN, "date"), *columns]
            key = [PARTITION_COLUMN, *key]
            prefix = (dates[0],)
        from psycopg import sql

        ident = sql.Identifier(*table)
        with self.postgres.connect() as conn, conn.cursor() as cur:
            lock_table(cur, table)
            ensure_table(cur, table, columns, key, indexes, not_null=[PARTITION_COLUMN] if dates else [])
            if dates is not None:
                cur.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(ident, sql.Identifier(PARTITION_COLUMN)),
                            (dates[0],))
            else:
                cur.execute(sql.SQL("DELETE FROM {}").format(ident))
            replaced = cur.rowcount
            written = copy_into(cur, table, [c for c, _ in columns], copy_rows(df, prefix))
        # committed: report what a user would check
        metadata = {
            "table": f"{table[0]}.{table[1]}",
            "dagster/table_name": f"{table[0]}.{table[1]}",
            "rows": written,
            "dagster/row_count": written,
            "replaced_rows": replaced,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name=c, type=t) for c, t in columns]
            ),
        }
        if dates is not None:
            metadata["partition"] = dates[0].isoformat()
        context.add_output_metadata(metadata)
        context.log.info(f"{table[0]}.{table[1]}: {written} rows written, {replaced} replaced")

    # ------------------------------------------------------------------ read

    def load_input(self, context: dg.InputContext):
        from pinterest_assets.resources.spark import build_spark_session

        table = self._table(context)
        qualified = f'"{table[0]}"."{table[1]}"'
        with self.postgres.connect() as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()[0]
        if exists is None:
            raise dg.Failure(
                f"table {table[0]}.{table[1]} does not exist yet: materialize "
                f"{context.asset_key.to_user_string()} first"
            )
        dates = self._partition_dates(context)
        query = f"SELECT * FROM {qualified}"
        if dates is not None:
            # dates come from date.fromisoformat, so their text form is safe to inline
            query += f" WHERE {PARTITION_COLUMN} BETWEEN DATE '{min(dates)}' AND DATE '{max(dates)}'"
        spark = build_spark_session()
        reader = spark.read.format("jdbc").option("url", self.postgres.jdbc_url()).option("query", query)
        for name, value in self.postgres.jdbc_properties().items():
            reader = reader.option(name, value)
        df = reader.load()
        if dates is not None and len(dates) == 1:
            df = df.drop(PARTITION_COLUMN)  # one day: the frame as it was written
        return df
