"""Rules shared by every entity, and the plumbing around them.

Every rule is a pure function from Column to Column built from Spark SQL functions (no Python
UDFs), so the same expression runs in the daily batch, in the stream and in the CLI.

Input contract of the cleaners: a DataFrame whose raw fields are STRING columns holding the raw
JSON values as text (JSON strings unquoted, numbers/booleans/arrays as their JSON text), plus any
lineage columns whose names start with ``_`` (``_topic``, ``_partition``, ``_offset``,
``_timestamp``, ``_line``, ...). :func:`raw_frame_from_json` builds that frame from JSON text.
Two underscore columns are internal rather than lineage: ``_raw`` (the original JSON text, used
as the reject's ``raw``) and ``_malformed`` (the text was not a JSON object).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

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

# translate() costs a String and a hash lookup per character, so it only runs on values that may
# need it. A value needs it when it holds a character outside this set of characters that are
# never whitespace or zero-width: printable ASCII and every Unicode block free of them (Latin,
# Cyrillic, ..., `…` U+2026, symbols and emoji). NBSP, the one common case, is replaced first by
# a plain byte replace. The excluded ranges are wider than the rule's characters (all C0/C1
# controls, U+2000-U+200F, U+2028-U+202F, U+205F-U+206F, U+FFFD for undecodable bytes, ...):
# a value sent to translate() needlessly gets the same result, only slower.
_NEEDS_TRANSLATE = (
    "[^ -~\\u00a1-\\u167f\\u1681-\\u1fff\\u2010-\\u2027\\u2030-\\u205e\\u2070-\\u2fff"
    "\\u3001-\\ufefe\\uff00-\\ufffc\\x{10000}-\\x{10ffff}]"
)
# The same test, inverted: a value is clean when it is made only of those characters. Shaped for
# java.util.regex's speed (docs/decisions.md, "Module notes out of the docstrings").
_CLEAN_TEXT = "^(?>[ -~]*)[ -~[" + _NEEDS_TRANSLATE[len("[^ -~"):-1] + "]]*\\z"


RAW_COLUMN = "_raw"
MALFORMED_COLUMN = "_malformed"
OUT_OF_DOMAIN_COLUMN = "_out_of_domain"  # staged: the fields set to NULL for being outside their Domain
INTERNAL_COLUMNS = (RAW_COLUMN, MALFORMED_COLUMN, OUT_OF_DOMAIN_COLUMN)
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
    for step in NORMALIZE_TEXT_STEPS:
        col = step(col)
    return col


def whitespace_to_space(col: Column) -> Column:
    """Every whitespace character becomes a space and zero-width characters are removed.

    The same as ``translate(col, whitespace + zero-width, spaces)``, without its per-character
    cost on values that don't need it: NBSP is replaced by a byte replace (no copy when absent),
    then one regex test sends only values with another candidate character to translate().

    Example: ``"a\\u00a0b\\u200bc\\td"`` -> ``"a bc d"``.
    """
    return other_whitespace_to_space(nbsp_to_space(col))


def nbsp_to_space(col: Column) -> Column:
    """U+00A0 NO-BREAK SPACE becomes a space: the first step of whitespace_to_space.

    contains() is a plain byte scan; replace() compares the search bytes at every offset, so it
    runs only where the scan found one.
    """
    return F.when(col.contains("\u00a0"), F.replace(col, F.lit("\u00a0"), F.lit(" "))).otherwise(col)


def other_whitespace_to_space(col: Column) -> Column:
    """The second step of whitespace_to_space, on NBSP-free text: translate() runs only on values
    the _CLEAN_TEXT regex test finds a candidate character in."""
    return F.when(col.rlike(_CLEAN_TEXT), col).otherwise(F.translate(col, _TRANSLATE_FROM, _TRANSLATE_TO))


def trim_to_null(col: Column) -> Column:
    """Spaces trimmed from both ends; an empty result is NULL: the last step of normalize_text."""
    return F.nullif(F.trim(col), F.lit(""))


def collapse_spaces(col: Column) -> Column:
    """Runs of spaces become one space (one regexp_replace, skipped when there is no run).

    Most values have no run: a byte search for two spaces spares them the regex engine's
    UTF-8 to UTF-16 round trip.

    Example: ``"a   b c"`` -> ``"a b c"``.
    """
    return F.when(col.contains("  "), F.regexp_replace(col, " {2,}", " ")).otherwise(col)


# normalize_text as steps, each a Column -> Column function reading the previous step. Composed,
# each step copies its input into 2-3 places, so a value appears 27 times in its normalized
# expression; clean_pin applies them with project_steps (one projection per step) instead.
NORMALIZE_TEXT_STEPS = (nbsp_to_space, other_whitespace_to_space, collapse_spaces, trim_to_null)


def project_steps(df: DataFrame, steps: dict[str, Sequence[Callable[[Column], Column]]]) -> DataFrame:
    """Apply each column's Column -> Column steps as a chain of projections, one per step.

    Composing steps into one expression copies each step into every later use of it (several
    copies per row, a large plan, a large generated method); one projection per step makes
    Spark compute each once per row. Step i of every column runs in the same projection.

    Example: ``project_steps(df, {"title": NORMALIZE_TEXT_STEPS})`` normalizes ``title`` in 4
    projections.
    """
    for i in range(max((len(chain) for chain in steps.values()), default=0)):
        df = df.withColumns({name: chain[i](F.col(name)) for name, chain in steps.items() if i < len(chain)})
    return df


def null_if_placeholder(col: Column, placeholders: tuple[str, ...]) -> Column:
    """NULL when the (already normalized) value equals a placeholder, ignoring case.

    The length test first spares lower-casing every long description. For ASCII placeholders
    without a ``k`` it is a byte-length test, which costs nothing (no character count): only
    ASCII text lower-cases to them, since U+212A KELVIN SIGN (lower case ``k``) is the one
    non-ASCII character with an ASCII lower case.

    Example: with ``("No Title Data Available",)``, ``"no title data available"`` -> NULL and
    ``"Cabin"`` -> ``"Cabin"``.
    """
    lowered = sorted({p.lower() for p in placeholders})
    if all(p.isascii() and "k" not in p for p in lowered):
        size, lengths = F.octet_length(col), sorted({len(p) for p in lowered})
    else:
        size, lengths = F.length(col), sorted({len(p) for p in placeholders})
    is_placeholder = size.isin(lengths) & F.lower(col).isin(lowered)
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


def parse_int(col: Column) -> Column:
    """An int from an integer or integer-like string; NULL when not an integer or beyond int.
    The column's range is its registry Domain, applied by split_clean_and_rejects.

    Example: ``" 34 "`` -> 34; ``"7"`` -> 7; ``"3.5"`` -> NULL.
    """
    return parse_ind(col).try_cast("int")


def parse_double(col: Column) -> Column:
    """A double from a number or numeric string (NaN and infinities included); NULL when unparseable.
    The column's range is its registry Domain, applied by split_clean_and_rejects.

    Example: ``" -45.5 "`` -> -45.5; ``"91"`` -> 91.0; ``"north"`` -> NULL.
    """
    return F.trim(F.translate(col, WHITESPACE_CHARS, " " * len(WHITESPACE_CHARS))).try_cast("double")


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
    """A raw field as text without NUL (:func:`drop_nul`): the column when present (non-strings
    rendered as JSON text), else NULL."""
    if name not in df.columns:
        return F.lit(None).cast("string")
    dtype = df.schema[name].dataType
    if isinstance(dtype, StringType):
        return drop_nul(F.col(name))
    if dtype.typeName() in ("array", "map", "struct"):
        return F.to_json(F.col(name))
    return F.col(name).cast("string")


def drop_nul(col: Column) -> Column:
    """U+0000 removed, as Postgres holds text (it cannot store NUL), before any other rule runs.

    So a value made only of NUL becomes empty, and then NULL, like any empty value.

    Example: ``"\\u0000\\u0000"`` -> ``""``; ``" \\u0000a"`` -> ``" a"``.
    """
    return F.when(col.contains("\x00"), without_nul(col)).otherwise(col)


def without_nul(col: Column) -> Column:
    """drop_nul reading `col` once: for a computed column, which drop_nul would copy three times."""
    return F.replace(col, F.lit("\x00"), F.lit(""))


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


def raw_json_schema(entity: str) -> StructType:
    """The schema :func:`raw_frame_from_json` parses an entity's JSON text with."""
    schema = StructType()
    for name in (*registry.entity(entity).raw_fields, _CORRUPT):  # raises for an unknown entity
        schema = schema.add(name, StringType())
    return schema


def raw_frame_from_json(df: DataFrame, col: str = "value", entity: str = "pin", parsed: str | None = None) -> DataFrame:
    """Turn a column of JSON text (Kafka `value`, text-file lines) into the all-string raw frame.

    Each of the entity's raw fields becomes a STRING column: JSON strings unquoted, numbers,
    booleans, arrays and objects as their JSON text (``["a","b"]``). Missing fields are NULL,
    unknown fields are dropped. Lineage columns (names starting with ``_``) are kept; ``_raw``
    holds the original text and ``_malformed`` is true when it is not a JSON object. `parsed`:
    a column of `df` already holding the text parsed with :func:`raw_json_schema` (NULL: malformed).

    Example: ``{"index": 7, "tag_list": ["a","b"]}`` -> index ``"7"``, tag_list ``'["a","b"]'``.
    """
    fields = registry.entity(entity).raw_fields
    text = F.col(col).cast("string")
    parsed_json = F.col(parsed) if parsed else F.from_json(text, raw_json_schema(entity), JSON_OPTIONS)
    lineage = [c for c in df.columns if c.startswith("_") and c not in INTERNAL_COLUMNS and c != parsed]
    framed = df.select(text.alias(RAW_COLUMN), parsed_json.alias("_parsed"), *lineage)
    return framed.select(
        *[F.col("_parsed").getField(name).alias(name) for name in fields],
        F.col(RAW_COLUMN),
        (F.col("_parsed").isNull() | F.col("_parsed").getField(_CORRUPT).isNotNull())
        .alias(MALFORMED_COLUMN),
        *lineage,
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


class Cleaned(tuple):
    """``(clean, rejects)`` as returned by every cleaner, plus ``staged``: the one frame both are
    split from (the output columns, ``_reason`` (NULL = clean), ``_reject_raw``, ``_out_of_domain``,
    the lineage columns). A sink that needs both sides reads ``staged`` once instead of scanning
    twice. ``annotated`` is the clean frame plus ``_out_of_domain``."""

    staged: DataFrame
    annotated: DataFrame

    def __new__(cls, clean: DataFrame, rejects: DataFrame, staged: DataFrame, annotated: DataFrame):
        obj = super().__new__(cls, (clean, rejects))
        obj.staged, obj.annotated = staged, annotated
        return obj


def domain_test(domain: registry.Domain, col: Column) -> Column | None:
    """True when `col` is inside `domain` (NULL for NULL); None when its type already guarantees it.

    Example: with ``double(-90, 90)``, 91.0 -> false and NaN -> false; with ``timestamp()``,
    0001-01-01 -> false.
    """
    if not domain.bounded:
        return None
    if domain.max_bytes is not None:
        if domain.type.startswith("array"):
            return F.forall(col, lambda x: F.coalesce(F.octet_length(x) <= domain.max_bytes, F.lit(True)))
        return F.octet_length(col) <= domain.max_bytes
    if domain.type == "timestamp":
        low, high = ((v - _EPOCH) // dt.timedelta(microseconds=1) for v in (domain.low, domain.high))
        return F.unix_micros(col).between(low, high)
    return col.between(domain.low, domain.high)  # numbers; NaN is above every number in Spark


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def apply_domains(df: DataFrame, entity: str, columns: Sequence[str]) -> DataFrame:
    """Each of `columns` outside its registry Domain set to NULL, and ``_out_of_domain`` (array of
    the names of the fields so set; empty when none) added.

    One projection reading the computed columns, so the rules above it run once per row.

    Example: geo ``timestamp`` 0001-01-01 -> NULL, ``_out_of_domain`` = ``["timestamp"]``.
    """
    domains = registry.entity(entity).domains
    tests = {c: t for c in columns if (t := domain_test(domains[c], F.col(c))) is not None}
    nulled = F.filter(F.array(*[F.when(~t, F.lit(c)) for c, t in tests.items()]), lambda x: x.isNotNull())
    return df.withColumns({**{c: F.when(t, F.col(c)) for c, t in tests.items()},
                           OUT_OF_DOMAIN_COLUMN: nulled if tests else F.array().cast("array<string>")})


def split_clean_and_rejects(
    df: DataFrame, entity: str, outputs: dict[str, Column], reason: Column
) -> Cleaned:
    """Evaluate the output columns once, apply their domains (:func:`apply_domains`) and split rows
    on `reason` (NULL = clean).

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
    staged = apply_domains(staged, entity, list(outputs))
    kept = keep_rows(staged, F.col("_reason").isNull())
    rejects = staged.where(F.col("_reason").isNotNull()).select(
        F.col("_reject_raw").alias("raw"), F.col("_reason").alias("reason"), *lineage
    )
    return Cleaned(kept.select(*outputs, *lineage), rejects, staged,
                   kept.select(*outputs, *lineage, OUT_OF_DOMAIN_COLUMN))


def latest_per_key(df: DataFrame, entity: str) -> DataFrame:
    """Keep one row per key, the newest (batch only: streaming frames can't rank rows).

    Newest is the highest ``_order``, the one order rule of :mod:`pinterest_assets.ordering`
    (epoch, then Kafka partition and offset), which batch, stream and dbt staging all compare. The
    ``_timestamp`` never decides: a clock step back must not make a later event lose. Without
    Kafka lineage, the highest input-order ``_line`` (files) wins.

    Example: two rows with key ``u1`` at ``_line`` 3 and 9 -> the row from line 9 remains.
    """
    key = registry.entity(entity).key  # raises for an unknown entity
    order = next((c for c in ("_order", "_line") if c in df.columns), None)
    if order is None:
        raise ValueError(
            "latest_per_key needs an ordering column to know which row is newest: "
            "_order (Kafka lineage, see pinterest_assets.ordering) or _line (input order); none is in "
            f"{df.columns}"
        )
    window = Window.partitionBy(key).orderBy(F.col(order).desc_nulls_last())
    return (
        df.withColumn("_rank_in_key", F.row_number().over(window))
        .where(F.col("_rank_in_key") == 1)
        .drop("_rank_in_key")
    )
