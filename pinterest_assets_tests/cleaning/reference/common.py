"""Reference copy (frozen): the cleaning library's `common` module as of commit 542c54f, before the
speed work of issue 13. test_equivalence.py checks that the current library gives the same
rows as this copy. Do not edit except to follow renamed imports, or a rule change (issue 24:
NUL is dropped from raw text before any rule, in raw_field and in tag arrays).
"""
# ruff: noqa

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructType

from pinterest_assets import entities as registry

# Every character Python's str.isspace() accepts (tabs, newlines, U+00A0, U+2000-U+200A, ...).
WHITESPACE_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# Zero-width characters carry no visible content: removed, not turned into spaces.
ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"

# translate() maps each char of the first string to the char at the same position of the second
# and deletes chars beyond its end: whitespace -> space, zero-width -> nothing, in one pass.
_TRANSLATE_FROM = WHITESPACE_CHARS + ZERO_WIDTH_CHARS
_TRANSLATE_TO = " " * len(WHITESPACE_CHARS)


RAW_COLUMN = "_raw"
MALFORMED_COLUMN = "_malformed"
INTERNAL_COLUMNS = (RAW_COLUMN, MALFORMED_COLUMN)
_CORRUPT = "_corrupt_record"

# Strict JSON (no single quotes, no NaN) except raw control characters inside strings, which
# hand-written files carry and text normalization turns into spaces anyway.
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": _CORRUPT,
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
    "allowUnquotedControlChars": "true",
}


# --------------------------------------------------------------------------- text rules


def normalize_text(col: Column) -> Column:
    """Whitespace-normalize text, keeping every real character.

    Every Unicode whitespace character becomes a space, zero-width characters are removed, runs
    of spaces collapse to one, the ends are trimmed, and an empty result is NULL. Accents,
    Cyrillic, emoji, ``…`` and ``♔`` are kept as they are.

    Example: ``"  Cozy\\u00a0\\u00a0cabin\\u200b ♔\\n"`` -> ``"Cozy cabin ♔"``; ``" \\t "`` -> NULL.
    """
    spaced = F.translate(col, _TRANSLATE_FROM, _TRANSLATE_TO)
    return F.nullif(F.trim(collapse_spaces(spaced)), F.lit(""))


def collapse_spaces(col: Column) -> Column:
    """Runs of spaces become one space (one regexp_replace, skipped when there is no run).

    Most values have no run: a byte search for two spaces spares them the regex engine's
    UTF-8 to UTF-16 round trip.

    Example: ``"a   b c"`` -> ``"a b c"``.
    """
    return F.when(col.contains("  "), F.regexp_replace(col, " {2,}", " ")).otherwise(col)


def null_if_placeholder(col: Column, placeholders: tuple[str, ...]) -> Column:
    """NULL when the (already normalized) value equals a placeholder, ignoring case.

    The length test first spares lower-casing every long description.

    Example: with ``("No Title Data Available",)``, ``"no title data available"`` -> NULL and
    ``"Cabin"`` -> ``"Cabin"``.
    """
    lowered = sorted({p.lower() for p in placeholders})
    lengths = sorted({len(p) for p in placeholders})
    is_placeholder = F.length(col).isin(lengths) & F.lower(col).isin(lowered)
    return F.when(is_placeholder, F.lit(None).cast("string")).otherwise(col)


# --------------------------------------------------------------------------- numbers


_WS_CLASS = "[ " + WHITESPACE_CHARS + "]"


def parse_ind(col: Column) -> Column:
    """The record index as a bigint: an integer, or an integer-like string with surrounding spaces.

    Anything else (decimals, words, out-of-range numbers, missing) is NULL, which rejects the
    record with reason ``invalid_ind``.

    Example: ``" 42 "`` -> 42; ``"7"`` -> 7; ``"7.5"`` -> NULL; ``"abc"`` -> NULL.
    """
    # Fast path: plain canonical digits ("42", "-7") round-trip through bigint unchanged, which
    # spares the regex for almost every record. Anything else (spaces, "+", leading zeros) takes
    # the regex: the digits, or "" (which try_cast turns into NULL).
    fast = col.try_cast("bigint")
    digits = F.regexp_extract(col, f"^{_WS_CLASS}*([+-]?[0-9]+){_WS_CLASS}*$", 1)
    return F.when(fast.cast("string") == col, fast).otherwise(digits.try_cast("bigint"))


def parse_bounded_int(col: Column, low: int, high: int) -> Column:
    """An int from an integer or integer-like string, NULL outside [low, high] or if not an integer.

    Example: with [13, 120], ``"34"`` -> 34; ``" 34 "`` -> 34; ``"7"`` -> NULL; ``"3.5"`` -> NULL.
    """
    value = parse_ind(col).try_cast("int")
    return F.when(value.between(low, high), value)


def parse_bounded_double(col: Column, low: float, high: float) -> Column:
    """A double from a number or numeric string; NULL when unparseable or outside [low, high].

    NaN and infinities are outside every range.

    Example: with [-90, 90], ``"-45.5"`` -> -45.5; ``"91"`` -> NULL; ``"north"`` -> NULL.
    """
    text = F.trim(F.translate(col, WHITESPACE_CHARS, " " * len(WHITESPACE_CHARS)))
    value = text.try_cast("double")
    return F.when(value.between(low, high) & ~F.isnan(value), value)


# --------------------------------------------------------------------------- timestamps

_TIMESTAMP_SHAPE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"                # date
    r"(?: [0-9]{2}:[0-9]{2}:[0-9]{2}"             # `yyyy-MM-dd HH:mm:ss`, taken as UTC
    r"|T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"  # ISO-8601 with T and an optional fraction
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?)$"            # optional Z or offset
)


def parse_timestamp_utc(col: Column) -> Column:
    """A UTC timestamp from ``yyyy-MM-dd HH:mm:ss`` (taken as UTC) or ISO-8601 with ``T``.

    The ISO form may carry a fraction and a ``Z`` or offset, which is converted to UTC.
    Anything else (dates alone, impossible dates, words) is NULL. Relies on the session time
    zone being UTC (the project's session factory sets it).

    Example: ``"2020-08-28 03:52:47"`` -> 2020-08-28T03:52:47Z;
    ``"2020-08-28T05:52:47.5+02:00"`` -> 2020-08-28T03:52:47.5Z; ``"2020-02-30 00:00:00"`` -> NULL.
    """
    text = F.trim(col)
    return F.when(text.rlike(_TIMESTAMP_SHAPE), text.try_cast("timestamp"))


def iso_utc(col: Column) -> Column:
    """Render a timestamp as ISO-8601 UTC text with ``Z``, with a fraction only when it has one.

    Example: 2020-08-28 03:52:47 -> ``"2020-08-28T03:52:47Z"``.
    """
    whole = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss'Z'")
    fraction = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    return F.when(col.isNull(), None).when(col == F.date_trunc("second", col), whole).otherwise(fraction)


# --------------------------------------------------------------------------- frames


def lineage_columns(df: DataFrame) -> list[str]:
    """Columns passed through untouched: names starting with `_`, except the internal ones."""
    return [c for c in df.columns if c.startswith("_") and c not in INTERNAL_COLUMNS]


def raw_field(df: DataFrame, name: str) -> Column:
    """A raw field as text: the column when present (non-strings rendered as JSON text), else NULL."""
    if name not in df.columns:
        return F.lit(None).cast("string")
    dtype = df.schema[name].dataType
    if isinstance(dtype, StringType):
        return F.translate(F.col(name), "\x00", "")
    if dtype.typeName() in ("array", "map", "struct"):
        return F.to_json(F.col(name))
    return F.col(name).cast("string")


def raw_record_json(df: DataFrame, entity: str) -> Column:
    """The raw record as JSON text: the original `_raw` text when present, else its raw fields."""
    if RAW_COLUMN in df.columns:
        return F.col(RAW_COLUMN)
    present = [c for c in df.columns if not c.startswith("_")]
    if not present:
        return F.lit("{}")
    return F.to_json(F.struct(*[F.col(c) for c in present]))


def malformed_flag(df: DataFrame) -> Column:
    """True when the row's source text was not a JSON object (set by raw_frame_from_json)."""
    if MALFORMED_COLUMN in df.columns:
        return F.coalesce(F.col(MALFORMED_COLUMN), F.lit(False))
    return F.lit(False)


def raw_frame_from_json(df: DataFrame, col: str = "value", entity: str = "pin") -> DataFrame:
    """Turn a column of JSON text (Kafka `value`, text-file lines) into the all-string raw frame.

    Each of the entity's raw fields becomes a STRING column: JSON strings unquoted, numbers,
    booleans, arrays and objects as their JSON text (``["a","b"]``). Missing fields are NULL,
    unknown fields are dropped. Lineage columns (names starting with ``_``) are kept; ``_raw``
    holds the original text and ``_malformed`` is true when it is not a JSON object.

    Example: ``{"index": 7, "tag_list": ["a","b"]}`` -> index ``"7"``, tag_list ``'["a","b"]'``.
    """
    fields = registry.entity(entity).raw_fields  # raises for an unknown entity
    schema = StructType()
    for name in (*fields, _CORRUPT):
        schema = schema.add(name, StringType())
    text = F.col(col).cast("string")
    parsed = F.from_json(text, schema, JSON_OPTIONS)
    lineage = [F.col(c) for c in df.columns if c.startswith("_") and c not in INTERNAL_COLUMNS]
    framed = df.select(text.alias(RAW_COLUMN), parsed.alias("_parsed"), *lineage)
    return framed.select(
        *[F.col("_parsed").getField(name).alias(name) for name in fields],
        F.col(RAW_COLUMN),
        (F.col("_parsed").isNull() | F.col("_parsed").getField(_CORRUPT).isNotNull())
        .alias(MALFORMED_COLUMN),
        *[F.col(c) for c in df.columns if c.startswith("_") and c not in INTERNAL_COLUMNS],
    )


_KEEP = "_keep_row"


def keep_rows(df: DataFrame, condition: Column) -> DataFrame:
    """Rows where `condition` is true, without a Filter the optimizer could push down.

    A ``where`` on a column computed by the projection below is pushed under it with the column
    replaced by its expression, so the (regex) key rules would run twice per row: once in the
    filter, once in the projection. Exploding a one-element array for kept rows (NULL, i.e. no
    row, otherwise) drops the same rows but reads the computed column; generators aren't
    pushed through. Works on batch and streaming frames.

    Example: rows with condition true, false, NULL -> only the first remains.
    """
    marker = F.explode(F.when(condition, F.array(F.lit(True))))
    return df.select("*", marker.alias(_KEEP)).drop(_KEEP)


def split_clean_and_rejects(
    df: DataFrame, entity: str, outputs: dict[str, Column], reason: Column
) -> tuple[DataFrame, DataFrame]:
    """Evaluate the output columns once and split rows on `reason` (NULL = clean).

    The clean frame has the output columns (in the dict's order) then the lineage columns; the
    rejects frame has ``raw`` (the record as JSON text), ``reason`` and the lineage columns.
    The clean side drops rejected rows with keep_rows (not a filter), so the key rules are
    evaluated once per row.
    """
    lineage = lineage_columns(df)
    staged = df.select(
        *[column.alias(name) for name, column in outputs.items()],
        reason.alias("_reason"),
        raw_record_json(df, entity).alias("_reject_raw"),
        *[F.col(c) for c in lineage],
    )
    clean = keep_rows(staged, F.col("_reason").isNull()).select(*outputs, *lineage)
    rejects = staged.where(F.col("_reason").isNotNull()).select(
        F.col("_reject_raw").alias("raw"), F.col("_reason").alias("reason"), *lineage
    )
    return clean, rejects


def latest_per_key(df: DataFrame, entity: str) -> DataFrame:
    """Keep one row per key, the newest (batch only: streaming frames can't rank rows).

    Newest is log order: the highest ``_offset`` in the key's Kafka partition (the API keys
    messages by the normalised key, so every version of a key shares a partition; a key found in
    several partitions, which only a producer bypassing the API can cause, is decided by the
    higher ``_partition``). The ``_timestamp`` never decides: a clock step back must not make a
    later event lose. Without Kafka lineage, the highest input-order ``_line`` (files) wins.

    Example: two rows with key ``u1`` at ``_line`` 3 and 9 -> the row from line 9 remains.
    """
    key = registry.entity(entity).key  # raises for an unknown entity
    order_columns = [c for c in ("_partition", "_offset") if c in df.columns]
    if not order_columns and "_line" in df.columns:
        order_columns = ["_line"]
    if not order_columns:
        raise ValueError(
            "latest_per_key needs an ordering column to know which row is newest: "
            "_timestamp/_offset (Kafka) or _line (input order); none is in "
            f"{df.columns}"
        )
    window = Window.partitionBy(key).orderBy(*[F.col(c).desc_nulls_last() for c in order_columns])
    return (
        df.withColumn("_rank_in_key", F.row_number().over(window))
        .where(F.col("_rank_in_key") == 1)
        .drop("_rank_in_key")
    )
