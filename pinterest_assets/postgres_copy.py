"""Spark frames into Postgres tables: column types, COPY (rows, or COPY text built by Spark), and DDL.

Shared by the Postgres IO manager and the ``pin_stream`` sink.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

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
            if c == "_kafka_order" and {"_kafka_partition", "_kafka_offset"} <= existing:
                from pinterest_assets.ordering import legacy_order_sql

                # rows stored before the order column existed (no grow then: epoch 0)
                cursor.execute(sql.SQL("UPDATE {} SET _kafka_order = {}").format(
                    ident, sql.SQL(legacy_order_sql("_kafka_partition", "_kafka_offset"))))
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


# --------------------------------------------------------------------------- COPY text built by Spark

COPY_LINE = "_copy_line"


def _copy_escape(col):
    """Text as a field of COPY's text format: invalid UTF-8 made valid (each bad sequence U+FFFD:
    a Kafka value cast to text keeps its bytes, and PostgreSQL refuses the whole COPY over one),
    NUL dropped, backslash, newline, CR and tab escaped."""
    from pyspark.sql import functions as F

    # replace(), not translate(): translate looks every character up in a map (a String per char)
    col = F.make_valid_utf8(col)  # a validity scan only, for valid text
    for char, escaped in (("\x00", ""), ("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = F.replace(col, F.lit(char), F.lit(escaped))
    return col


def _array_literal(col, element_type):
    """A PostgreSQL array literal (``{"a","b\\"c",NULL}``) of a Spark array column, as text."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(element_type, T.StringType):
        def element(x):
            quoted = F.replace(F.replace(x, F.lit("\\"), F.lit("\\\\")), F.lit('"'), F.lit('\\"'))
            return F.when(x.isNull(), F.lit("NULL")).otherwise(F.concat(F.lit('"'), quoted, F.lit('"')))
    elif isinstance(element_type, (T.ArrayType, T.MapType, T.StructType, T.BinaryType,
                                   T.TimestampType, T.TimestampNTZType)):
        raise TypeError(f"arrays of {element_type.simpleString()} are not supported by COPY lines")
    else:
        def element(x):
            return F.coalesce(x.cast("string"), F.lit("NULL"))
    return F.concat(F.lit("{"), F.array_join(F.transform(col, element), ","), F.lit("}"))


def copy_text_lines(df, column: str = COPY_LINE):
    """The frame as ONE string column: each row a finished line of COPY's text format (with ``\\n``).

    Spark does the formatting in the JVM (code-generated), so the rows reach Python as one Arrow
    string column whose buffer *is* the COPY payload (:func:`copy_arrow_lines`): no per-row Python
    work. NULL -> ``\\N``; text escaped as COPY's text format needs it, NUL characters dropped (like
    :func:`copy_frame`); timestamps written with their UTC offset (instant exact in any session zone);
    arrays as PostgreSQL array literals; maps/structs as JSON.

    Example: a row ("a\\tb", NULL, 3) -> ``a\\\\tb\\t\\\\N\\t3\\n`` (tab, \\N, newline).
    """
    return df.select(copy_line(df).alias(column))


def copy_line(df, columns: Sequence[str] | None = None):
    """The Column of :func:`copy_text_lines`: `columns` of `df` (default all) as one COPY text line.

    Example: ``F.when(ok, copy_line(df, ["a", "b"])).otherwise(copy_line(df, ["c"]))`` formats each
    row by one of two layouts in one pass.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    # a timestamp cast to text is about twice as fast as date_format, and exact when the session is UTC
    utc = df.sparkSession.conf.get("spark.sql.session.timeZone") in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00")
    fields = []
    for f in (df.schema[name] for name in columns) if columns is not None else df.schema.fields:
        col, dtype = F.col(f.name), f.dataType
        if isinstance(dtype, T.StringType):
            text = _copy_escape(col)
        elif isinstance(dtype, T.TimestampType) and utc:  # the cast's text is UTC wall time: say so
            text = F.concat(col.cast("string"), F.lit("+00"))
        elif isinstance(dtype, T.TimestampType):
            text = F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSSXXX")
        elif isinstance(dtype, T.TimestampNTZType):
            text = F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSS")
        elif isinstance(dtype, T.BooleanType):
            text = F.when(col, F.lit("t")).when(~col, F.lit("f"))
        elif isinstance(dtype, T.ArrayType):
            text = _copy_escape(_array_literal(col, dtype.elementType))
        elif isinstance(dtype, (T.MapType, T.StructType)):
            text = _copy_escape(F.regexp_replace(F.to_json(col), r"(?<!\\)((?:\\\\)*)\\u0000", "$1"))
        elif isinstance(dtype, T.BinaryType):
            text = F.concat(F.lit("\\\\x"), F.lower(F.hex(col)))
        else:  # numbers, dates, decimals: Spark's text form is PostgreSQL input syntax
            text = col.cast("string")
        fields.append(F.coalesce(text, F.lit("\\N")))
    return F.concat(F.concat_ws("\t", *fields), F.lit("\n"))


def arrow_text_buffer(array) -> memoryview:
    """The bytes of an Arrow string array's values, back to back (zero-copy; no NULLs allowed)."""
    import pyarrow as pa

    if array.null_count:
        raise ValueError("COPY lines cannot be NULL")
    if len(array) == 0:
        return memoryview(b"")
    buffers = array.buffers()
    width = "q" if pa.types.is_large_string(array.type) else "i"
    offsets = memoryview(buffers[1]).cast("B").cast(width)
    start, end = offsets[array.offset], offsets[array.offset + len(array)]
    return memoryview(buffers[2]).cast("B")[start:end]


def copy_arrow_lines(cursor, table: Sequence[str], columns: Sequence[str], lines) -> int:
    """``COPY table (columns) FROM STDIN`` with the lines of :func:`copy_text_lines`, given as an
    Arrow string Array/ChunkedArray; the buffers go to the server as they are. Returns the rows."""
    from psycopg import sql

    chunks = getattr(lines, "chunks", [lines])
    rows = sum(len(c) for c in chunks)
    if not rows:
        return 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with cursor.copy(statement) as copy:
        for chunk in chunks:
            if len(chunk):
                copy.write(arrow_text_buffer(chunk))
    return rows
