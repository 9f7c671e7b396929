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
* the bulk path is ``COPY ... FROM STDIN`` (psycopg 3). Spark encodes every row as one
  text-format COPY line (escaping, ``\\N`` for NULL, arrays as ``{"a","b"}``, timestamps with
  their UTC offset) and the driver streams the lines with ``toLocalIterator`` (one Spark
  partition at a time, never the whole frame in memory) into ``Copy.write`` in 1 MB chunks.
  Encoding in the JVM rather than adapting each field in Python (``write_row``) makes the driver
  side about 5x cheaper (bench/bench_stream.py).

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


def _copy_escape(col):
    """Text-format COPY escaping of one field: backslash, newline, carriage return, tab."""
    from pyspark.sql import functions as F

    for raw, escaped in (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = F.replace(col, F.lit(raw), F.lit(escaped))
    return col


def _without_nul(col):
    """PostgreSQL text cannot hold NUL characters (COPY would reject the whole load): drop them."""
    from pyspark.sql import functions as F

    return F.translate(col, "\x00", "")


def _value_text(col, dtype):
    """A non-array value as PostgreSQL input text (before COPY escaping); NULL stays NULL."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(dtype, T.StringType):
        return _without_nul(col)
    if isinstance(dtype, T.BooleanType):
        return F.when(col, F.lit("t")).when(~col, F.lit("f"))
    if isinstance(dtype, T.TimestampType):
        # the offset is written out, so the instant is right whatever the session time zone
        return F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSSxxx")
    if isinstance(dtype, T.TimestampNTZType):
        return F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSS")
    if isinstance(dtype, T.BinaryType):
        return F.concat(F.lit("\\x"), F.lower(F.hex(col)))
    if isinstance(dtype, (T.MapType, T.StructType)):
        # jsonb rejects the escape \u0000: drop it (an escaped backslash before "u0000" is kept)
        return F.regexp_replace(F.to_json(col), r"(?<!\\)((?:\\\\)*)\\u0000", "$1")
    # numbers and dates: Spark's text is valid PostgreSQL input (1.0E7, NaN, Infinity, 2025-03-01)
    return col.cast("string")


def _field_text(col, dtype):
    """One column as a text-format COPY field: escaped text, ``\\N`` for NULL.

    Arrays become PostgreSQL array literals with every element double-quoted (so commas, braces,
    spaces, empty strings and the word NULL need no special casing) and NULL elements unquoted.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(dtype, T.ArrayType):
        element = dtype.elementType

        def quoted(x):
            text = F.replace(F.replace(_value_text(x, element), F.lit("\\"), F.lit("\\\\")), F.lit('"'), F.lit('\\"'))
            return F.when(x.isNull(), F.lit("NULL")).otherwise(F.concat(F.lit('"'), text, F.lit('"')))

        text = F.concat(F.lit("{"), F.array_join(F.transform(col, quoted), ","), F.lit("}"))
    else:
        text = _value_text(col, dtype)
    return F.coalesce(_copy_escape(text), F.lit("\\N"))


def copy_lines(df, prefix: Sequence[str] = ()) -> Iterator[str]:
    """The frame as text-format COPY lines, encoded by Spark and streamed partition by partition.

    Spark turns each row into one line (fields escaped, arrays as ``{"a","b"}``, timestamps with
    their UTC offset), so the driver only moves strings: no per-field Python adaptation.
    `prefix` holds literal field texts put before every row (e.g. the partition date).
    """
    from pyspark.sql import functions as F

    fields = [F.lit(p) for p in prefix]
    fields += [_field_text(F.col(f.name), f.dataType) for f in df.schema.fields]
    lines = df.select(F.concat_ws("\t", *fields).alias("line"))
    for row in lines.toLocalIterator(prefetchPartitions=True):
        yield row[0]


def copy_into(cursor, table: Sequence[str], columns: Sequence[str], lines: Iterable[str],
              chunk_bytes: int = 1 << 20) -> int:
    """``COPY table (columns) FROM STDIN`` fed with text-format `lines`; returns the rows written."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    written, chunk, size = 0, [], 0
    with cursor.copy(statement) as copy:
        for line in lines:
            chunk.append(line)
            size += len(line)
            written += 1
            if size >= chunk_bytes:
                copy.write("\n".join(chunk) + "\n")
                chunk, size = [], 0
        if chunk:
            copy.write("\n".join(chunk) + "\n")
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
            prefix = (dates[0].isoformat(),)
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
            written = copy_into(cur, table, [c for c, _ in columns], copy_lines(df, prefix))
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
