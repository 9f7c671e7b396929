"""The Postgres IO manager: Spark DataFrames in, SQL-ready tables ``pinterest.<asset name>`` out.

Invariant: a daily partition is keyed ``(date, <key>)`` and replaced in one transaction (DELETE
of the day + COPY), so readers see the old day or the new one whole. Reading returns a Spark
DataFrame over JDBC. Why: docs/decisions.md, "Module notes out of the docstrings".
"""


import datetime as dt

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field

from pinterest_assets.postgres_copy import copy_into, copy_rows, ensure_table, lock_table, postgres_type
from pinterest_assets.resources.postgres import SCHEMA, PostgresResource

PARTITION_COLUMN = "date"


# --------------------------------------------------------------------------- the IO manager


def table_metadata(table, columns, written: int, replaced: int, dates) -> dict:
    """What a user checks after a write: table, rows written and replaced, schema, partition."""
    name = f"{table[0]}.{table[1]}"
    metadata = {
        "table": name,
        "dagster/table_name": name,
        "rows": written,
        "dagster/row_count": written,
        "replaced_rows": replaced,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(name=c, type=t) for c, t in columns]),
    }
    if dates is not None:
        metadata["partition"] = (dates[0].isoformat() if len(dates) == 1
                                 else f"{min(dates).isoformat()}..{max(dates).isoformat()} ({len(dates)} days)")
    return metadata


class PostgresIOManager(dg.ConfigurableIOManager):
    """Stores Spark DataFrames as tables ``<schema>.<asset name>`` in PostgreSQL (see module doc).

    Assets declare in their metadata ``primary_key`` (a column or list of columns) and optionally
    ``indexes`` (list of columns or column lists). Daily-partitioned assets get a ``date`` column
    and the primary key ``(date, <primary_key>)``.
    """

    postgres: PostgresResource
    pyspark: dg.ResourceDependency[LazyPySparkResource]
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

    @staticmethod
    def _rows_frame(context, obj, dates):
        """(frame to COPY, values put before each row). One day: the frame without a ``date``
        column, the day as prefix. Several days (a single-run backfill): the frame's own ``date``
        column (as the lake IO manager reads a range) moved first; a row of another day fails."""
        if dates is None:
            return obj, ()
        if len(dates) == 1:
            return (obj.drop(PARTITION_COLUMN) if PARTITION_COLUMN in obj.columns else obj), (dates[0],)
        name = context.asset_key.to_user_string()
        if PARTITION_COLUMN not in obj.columns:
            raise dg.Failure(f"{name}: a run of {len(dates)} days needs a {PARTITION_COLUMN!r} column "
                             "saying each row's day")
        from pyspark.sql import functions as F

        day = F.col(PARTITION_COLUMN).cast("date")
        outside = obj.where(day.isNull() | ~day.isin(*dates)).limit(1).collect()
        if outside:
            raise dg.Failure(f"{name}: a row of {outside[0][PARTITION_COLUMN]!r}, not one of the run's days "
                             f"{min(dates)}..{max(dates)}")
        return obj.select(day.alias(PARTITION_COLUMN), *[c for c in obj.columns if c != PARTITION_COLUMN]), ()

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
        df, prefix = self._rows_frame(context, obj, dates)
        columns = [(f.name, postgres_type(f.dataType)) for f in df.schema.fields]
        if dates is not None:
            columns = [(PARTITION_COLUMN, "date"), *[c for c in columns if c[0] != PARTITION_COLUMN]]
            key = [PARTITION_COLUMN, *key]
        from psycopg import sql

        ident = sql.Identifier(*table)
        with self.postgres.connect() as conn, conn.cursor() as cur:
            lock_table(cur, table)
            ensure_table(cur, table, columns, key, indexes, not_null=[PARTITION_COLUMN] if dates else [])
            if dates is not None:  # every day of the run, in this one transaction
                cur.execute(sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(ident, sql.Identifier(PARTITION_COLUMN)),
                            (dates,))
            else:
                cur.execute(sql.SQL("DELETE FROM {}").format(ident))
            replaced = cur.rowcount
            written = copy_into(cur, table, [c for c, _ in columns], copy_rows(df, prefix))
            # built before the COMMIT (at the end of this block): nothing after it can fail
            metadata = table_metadata(table, columns, written, replaced, dates)
        context.add_output_metadata(metadata)
        context.log.info(f"{table[0]}.{table[1]}: {written} rows written, {replaced} replaced")

    # ------------------------------------------------------------------ read

    def load_input(self, context: dg.InputContext):
        from psycopg import sql

        table = self._table(context)
        dates = self._partition_dates(context)
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table))
        if dates is not None:
            query += sql.SQL(" WHERE {} BETWEEN {} AND {}").format(
                sql.Identifier(PARTITION_COLUMN), sql.Literal(min(dates)), sql.Literal(max(dates)))
        with self.postgres.connect() as conn:
            qualified = sql.Identifier(*table).as_string(conn)
            exists = conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()[0]
            query = query.as_string(conn)  # Spark's JDBC reader takes text; identifiers are quoted
        if exists is None:
            raise dg.Failure(
                f"table {table[0]}.{table[1]} does not exist yet: materialize "
                f"{context.asset_key.to_user_string()} first"
            )
        spark = self.pyspark.spark_session
        reader = spark.read.format("jdbc").option("url", self.postgres.jdbc_url()).option("query", query)
        for name, value in self.postgres.jdbc_properties().items():
            reader = reader.option(name, value)
        df = reader.load()
        if dates is not None and len(dates) == 1:
            df = df.drop(PARTITION_COLUMN)  # one day: the frame as it was written
        return df
