"""Pin cleaning rules: one small Column -> Column function per rule, composed by clean_pin."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pinterest_assets import entities as registry
from pinterest_assets.cleaning.common import (
    RAW_COLUMN,
    WHITESPACE_CHARS,
    ZERO_WIDTH_CHARS,
    NORMALIZE_TEXT_STEPS,
    malformed_flag,
    collapse_spaces,
    nbsp_to_space,
    normalize_text,
    other_whitespace_to_space,
    null_if_placeholder,
    parse_ind,
    project_steps,
    raw_field,
    raw_record_json,
    without_nul,
    split_clean_and_rejects,
)

PIN_COLUMNS = registry.entity("pin").columns

TITLE_PLACEHOLDERS = ("No Title Data Available", "Untitled")
DESCRIPTION_PLACEHOLDERS = (
    "No description available Story format", "No description available", "Untitled",
)
POSTER_NAME_PLACEHOLDERS = ("User Info Error",)
IMAGE_SRC_PLACEHOLDERS = ("Image src error.", "Image src error")
TAG_LIST_PLACEHOLDER = "No Tags Available"

_SPACE_FROM = WHITESPACE_CHARS + ZERO_WIDTH_CHARS
_SPACE_TO = " " * len(WHITESPACE_CHARS)
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z"
# a decimal number (JSON numbers may come as 1.0E7), then an optional k/M/B suffix
_FOLLOWER_SHAPE = r"^((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([kKmMbB]?)$"
# the usual shape: at most 9 digits (so even x1,000,000,000 fits a bigint) and a suffix; \z, not
# $, which would also match before a final line break
_FOLLOWER_PLAIN = r"^[0-9]{1,9}[kKmMbB]?\z"


def _text(col: Column, normalized: bool) -> Column:
    return col if normalized else normalize_text(col)


def parse_unique_id(col: Column) -> Column:
    """The pin key: trimmed, lower-cased, a canonical 8-4-4-4-12 hex UUID; otherwise NULL (reject).

    Example: ``" 5D2C8C5F-1A2B-4C3D-8E9F-0A1B2C3D4E5F "`` -> ``"5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"``;
    ``"5d2c8c5f1a2b4c3d8e9f0a1b2c3d4e5f"`` -> NULL.
    """
    # Fast path: a value that already is a canonical lower-case UUID is kept as it is (one
    # anchored regex on 36 characters); only the others are whitespace-cleaned and lower-cased.
    canonical = F.when(col.rlike(_UUID), col)
    trimmed = F.trim(F.translate(col, _SPACE_FROM, _SPACE_TO))
    return F.coalesce(canonical, F.nullif(F.regexp_extract(F.lower(trimmed), _UUID, 0), F.lit("")))


def clean_title(col: Column, normalized: bool = False) -> Column:
    """Normalized title; placeholders ``No Title Data Available`` and ``Untitled`` -> NULL.

    Example: ``"  Winter\\u00a0cabin ❄️ "`` -> ``"Winter cabin ❄️"``; ``"No Title Data Available"`` -> NULL.
    """
    return null_if_placeholder(_text(col, normalized), TITLE_PLACEHOLDERS)


def clean_description(col: Column, normalized: bool = False) -> Column:
    """Normalized description; ``No description available[ Story format]``, ``Untitled`` -> NULL.

    Example: ``"Easy\\u00a0recipes…"`` -> ``"Easy recipes…"``;
    ``"No description available Story format"`` -> NULL.
    """
    return null_if_placeholder(_text(col, normalized), DESCRIPTION_PLACEHOLDERS)


def clean_poster_name(col: Column, normalized: bool = False) -> Column:
    """Normalized poster name; ``User Info Error`` -> NULL.

    Example: ``" Maya  K. "`` -> ``"Maya K."``; ``"User Info Error"`` -> NULL.
    """
    return null_if_placeholder(_text(col, normalized), POSTER_NAME_PLACEHOLDERS)


def compact_number_text(col: Column) -> Column:
    """Every whitespace, zero-width character and ``,`` removed, in one translate() pass.

    Example: ``" 1,234 k"`` -> ``"1234k"``.
    """
    return F.translate(col, " " + WHITESPACE_CHARS + ZERO_WIDTH_CHARS + ",", "")


def parse_follower_count(col: Column, compacted: bool = False) -> Column:
    """Follower count as a bigint from a number with an optional k/M/B suffix.

    Spaces and ``,`` separators are removed; ``k``/``K`` x1,000, ``m``/``M`` x1,000,000,
    ``b``/``B`` x1,000,000,000; rounded to the nearest integer (halves up). A JSON number is
    taken as it is. Negative, ``User Info Error`` or anything else -> NULL. Decimal arithmetic,
    so ``1.15k`` is exactly 1150.

    Example: ``"1.5k"`` -> 1500; ``"2.5M"`` -> 2500000; ``"1,234"`` -> 1234; ``"437"`` -> 437.
    """
    # Fast path for the usual shape, up to 9 digits and an optional suffix (``"66k"``, ``"437"``):
    # nothing to remove, no fraction, and the product fits a bigint, so integer arithmetic gives
    # exactly what the decimal path below gives, without the translate(), the regexp_extract and
    # the decimal arithmetic.
    plain_multiplier = (
        F.when(F.endswith(col, F.lit("k")) | F.endswith(col, F.lit("K")), F.lit(1_000))
        .when(F.endswith(col, F.lit("m")) | F.endswith(col, F.lit("M")), F.lit(1_000_000))
        .when(F.endswith(col, F.lit("b")) | F.endswith(col, F.lit("B")), F.lit(1_000_000_000))
        .otherwise(F.lit(1))
        .cast("bigint")
    )
    plain = F.rtrim(col, F.lit("kKmMbB")).try_cast("bigint") * plain_multiplier
    return F.when(col.rlike(_FOLLOWER_PLAIN), plain).otherwise(_parse_follower_count_decimal(col, compacted))


def _parse_follower_count_decimal(col: Column, compacted: bool) -> Column:
    """parse_follower_count for any shape, in decimal arithmetic."""
    compact = col if compacted else compact_number_text(col)
    # "" when the shape is wrong, and try_cast("") is NULL
    number = F.regexp_extract(compact, _FOLLOWER_SHAPE, 1).try_cast("decimal(38,18)")
    # when the shape matches, the suffix (if any) is the last character: no second regex pass
    suffix = F.lower(F.substring(compact, -1, 1))
    multiplier = (
        F.when(suffix == "k", F.lit(1_000))
        .when(suffix == "m", F.lit(1_000_000))
        .when(suffix == "b", F.lit(1_000_000_000))
        .otherwise(F.lit(1))
        .cast("decimal(10,0)")
    )
    return F.round(F.try_multiply(number, multiplier), 0).try_cast("bigint")


def _has_long_piece(col: Column, sep: str) -> Column:
    """True when some `sep`-separated piece is two or more characters long (not character-spread).

    The first two characters settle it for almost every list (a real tag starts it); only the
    rest take the regex.

    Example: ``"#travel,beach"`` -> true; ``"#,t,r,i,p"`` -> false.
    """
    head = F.substring(col, 1, 2)
    return F.when((F.length(head) == 2) & ~head.contains(sep), F.lit(True)).otherwise(
        col.rlike(f"[^{sep}]{{2}}")
    )


def _replace_if_found(col: Column, search: str, replacement: str) -> Column:
    """replace(), run only on values that contain `search` (the same result, a cheaper test)."""
    return F.when(col.contains(search), F.replace(col, F.lit(search), F.lit(replacement))).otherwise(col)


def _tag_steps(sep: str):
    """The whole-string tag steps, each a function of the previous step's column (see _staged_tags)."""
    return [
        # character-spread (no piece longer than one character): join into one tag, the whole
        # string at once (a byte replace: the separator is one ASCII character)
        lambda c: F.when(~_has_long_piece(c, sep), F.replace(c, F.lit(sep), F.lit(""))).otherwise(c),
        # whitespace -> space and zero-width removed (translate() only where a regex test needs it),
        # as whitespace_to_space's two steps (each reads its input 3 times: one projection each)
        nbsp_to_space,
        other_whitespace_to_space,
        collapse_spaces,
        # spaces around separators and at the ends: plain byte replaces, no regex, each only where a
        # byte scan (contains(), much cheaper than replace()'s search) finds its pair
        lambda c: F.trim(_replace_if_found(_replace_if_found(c, f"{sep} ", sep), f" {sep}", sep)),
        # leading `#`s (and one space after them, runs being collapsed): regex only when needed
        lambda c: F.when(c.contains("#"), F.regexp_replace(c, f"(^|{sep})#+ ?", "$1")).otherwise(c),
        lambda c: F.split(c, sep),
    ]


def _staged_tags(df: DataFrame, raw_tags: Column, out: str) -> DataFrame:
    """Tags from a JSON array (element by element) or a comma-joined string, repaired and deduplicated,
    as a chain of projections (one per step, :func:`project_steps`), so no step is evaluated twice.

    When every piece is at most one character long the list is character-spread: the pieces are
    joined with no separator and the result is one tag (``#,t,r,a,v,e,l`` -> ``#travel``). Each tag
    loses its leading ``#`` characters and the space after them; empty tags and repeats (first kept)
    are dropped, order is kept; may be an empty array (finish_tags turns that into NULL).

    Example: ``"#travel, Beach ,travel,,#"`` -> ``["travel", "Beach"]``; ``["#a", "b, c"]`` -> ``["a", "b, c"]``.
    """
    is_array = F.ltrim(raw_tags).startswith("[")
    staged = df.select(
        "*",
        F.when(is_array, without_nul(F.array_join(F.from_json(raw_tags, "array<string>"), _ARRAY_SEPARATOR)))
        .alias("_tags_a"),
    )
    # not an array, or a `[...` that isn't a JSON array: read as a comma-joined string
    staged = staged.withColumn("_tags_s", F.when(F.col("_tags_a").isNull(), raw_tags))
    staged = project_steps(staged, {"_tags_s": _tag_steps(","), "_tags_a": _tag_steps(_ARRAY_SEPARATOR)})
    tags = F.coalesce(F.col("_tags_a"), F.col("_tags_s"))
    return staged.withColumn(out, F.array_distinct(F.array_remove(tags, ""))).drop("_tags_s", "_tags_a")


# Joins JSON-array elements so they can share the string path without splitting on commas
# inside an element (U+0001 is neither whitespace nor expected in a tag).
_ARRAY_SEPARATOR = "\u0001"


def finish_tags(tags: Column) -> Column:
    """An empty tag array, or exactly ``["No Tags Available"]`` (any case), becomes NULL.

    Example: ``[]`` -> NULL; ``["no tags available"]`` -> NULL; ``["art"]`` -> ``["art"]``.
    """
    placeholder = (F.size(tags) == 1) & (F.lower(F.element_at(tags, 1)) == TAG_LIST_PLACEHOLDER.lower())
    return F.when((F.size(tags) > 0) & ~placeholder, tags)


def parse_media_type(col: Column, normalized: bool = False) -> Column:
    """``is_image_or_video`` as image | video | story, NULL otherwise.

    Normalized and lower-cased: ``image`` -> image, ``video`` -> video, anything containing
    ``story`` -> story.

    Example: ``"multi-video(story page format)"`` -> ``"story"``; ``" Image "`` -> ``"image"``.
    """
    value = F.lower(_text(col, normalized))
    return (
        F.when(value == "image", "image")
        .when(value == "video", "video")
        .when(value.contains("story"), "story")
    )


def clean_image_src(col: Column, normalized: bool = False) -> Column:
    """Image URL: ``Image src error.`` (with or without the period) -> NULL; must be http(s).

    The placeholder can never pass the http(s) test, so that one test covers both.

    Example: ``"https://i.pinimg.com/originals/a.jpg"`` is kept; ``"Image src error."`` -> NULL;
    ``"ftp://x/a.jpg"`` -> NULL.
    """
    value = _text(col, normalized)
    scheme = F.lower(F.substring(value, 1, 8))
    return F.when(scheme.startswith("http://") | scheme.startswith("https://"), value)


def parse_downloaded(col: Column, normalized: bool = False) -> Column:
    """Boolean from ``1``/``"1"``/``true``/``"true"`` and ``0``/``"0"``/``false``/``"false"``.

    Surrounding whitespace and letter case are ignored; anything else is NULL.

    Example: ``"1"`` -> true; ``false`` -> false; ``"yes"`` -> NULL.
    """
    value = F.lower(_text(col, normalized))
    return F.when(value.isin("1", "true"), F.lit(True)).when(value.isin("0", "false"), F.lit(False))


def clean_save_location(col: Column, normalized: bool = False) -> Column:
    """Save path: a leading ``Local save in`` (any case) and its spaces removed; must start with ``/``.

    Example: ``"Local save in /data/travel"`` -> ``"/data/travel"``; ``"somewhere"`` -> NULL.
    """
    value = _text(col, normalized)
    # The two usual shapes by byte tests; the rest by one regex pass (the path when it starts
    # with "/", else ""). Normalized text has no line terminators, so `.*` takes the whole rest
    # and the fast paths give what the regex would.
    path = (
        F.when(value.startswith(_SAVE_PREFIX + "/"), F.substr(value, F.lit(len(_SAVE_PREFIX) + 1)))
        .when(value.startswith("/"), value)
        .otherwise(F.regexp_extract(value, r"^(?:(?i)local save in *)?(/.*)$", 1))
    )
    return F.nullif(path, F.lit(""))


_SAVE_PREFIX = "Local save in "


def clean_category(col: Column, normalized: bool = False) -> Column:
    """Category: normalized and lower-cased.

    Example: ``" Home-Decor "`` -> ``"home-decor"``.
    """
    return F.lower(_text(col, normalized))


def pin_reject_reason(malformed: Column, ind: Column, unique_id: Column) -> Column:
    """Why a pin is quarantined, NULL when it is clean: malformed_json, invalid_ind, invalid_unique_id."""
    return (
        F.when(malformed, "malformed_json")
        .when(ind.isNull(), "invalid_ind")
        .when(unique_id.isNull(), "invalid_unique_id")
    )


_NORMALIZED_FIELDS = (
    "title", "description", "poster_name", "is_image_or_video", "image_src", "downloaded",
    "save_location", "category",
)


def clean_pin(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Clean raw pins (batch or stream): returns (clean_df, rejects_df).

    clean_df has the pin output columns then the lineage ``_`` columns; rejects_df has ``raw``,
    ``reason`` and the lineage columns.

    Evaluated in stages (normalize -> rules -> finish) so each expensive expression runs once
    per row: Spark keeps a projection separate rather than inline an expensive expression that
    the next stage reads several times.
    """
    raw = lambda name: raw_field(df, name)  # noqa: E731
    keep = [F.col(c) for c in df.columns if c.startswith("_")]
    normalized = df.select(
        parse_ind(F.coalesce(raw("index"), raw("ind"))).alias("ind"),
        parse_unique_id(raw("unique_id")).alias("unique_id"),
        *[raw(name).alias(name) for name in _NORMALIZED_FIELDS],
        raw("follower_count").alias("follower_count"),
        raw("tag_list").alias("tag_list"),
        *([] if RAW_COLUMN in df.columns else [raw_record_json(df, "pin").alias(RAW_COLUMN)]),
        *keep,
    )
    normalized = project_steps(normalized, {name: NORMALIZE_TEXT_STEPS for name in _NORMALIZED_FIELDS})
    normalized = _staged_tags(normalized, F.col("tag_list"), "tag_list")
    c = F.col
    outputs = {
        "ind": c("ind"),
        "unique_id": c("unique_id"),
        "title": clean_title(c("title"), normalized=True),
        "description": clean_description(c("description"), normalized=True),
        "poster_name": clean_poster_name(c("poster_name"), normalized=True),
        "follower_count": parse_follower_count(c("follower_count")),
        "tag_list": finish_tags(c("tag_list")),
        "is_image_or_video": parse_media_type(c("is_image_or_video"), normalized=True),
        "image_src": clean_image_src(c("image_src"), normalized=True),
        "downloaded": parse_downloaded(c("downloaded"), normalized=True),
        "save_location": clean_save_location(c("save_location"), normalized=True),
        "category": clean_category(c("category"), normalized=True),
    }
    reason = pin_reject_reason(malformed_flag(normalized), c("ind"), c("unique_id"))
    return split_clean_and_rejects(normalized, "pin", outputs, reason)
