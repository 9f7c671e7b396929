"""User cleaning rules, composed by clean_user."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pinterest_assets import entities as registry
from pinterest_assets.cleaning.common import (
    malformed_flag,
    normalize_text,
    parse_int,
    parse_ind,
    parse_timestamp_utc,
    raw_field,
    split_clean_and_rejects,
)
from pinterest_assets.cleaning.geo import key_reject_reason

USER_COLUMNS = registry.entity("user").columns


def build_user_name(first_name: Column, last_name: Column) -> Column:
    """Normalized first and last name joined by one space; one present -> that one; none -> NULL.

    Example: (``" Ana "``, ``"Lopez\\u00a0Diaz"``) -> ``"Ana Lopez Diaz"``; (NULL, ``"Lee"``) -> ``"Lee"``.
    """
    joined = F.concat_ws(" ", normalize_text(first_name), normalize_text(last_name))
    return F.nullif(joined, F.lit(""))


def parse_age(col: Column) -> Column:
    """Age as an int from an integer or integer-like string (not an integer -> NULL); its Domain
    [13, 120] (registry) makes a value outside it NULL.

    Example: ``"34"`` -> 34; ``" 34 "`` -> 34; ``"12"`` -> 12 here, NULL after the domain; ``"34.5"`` -> NULL.
    """
    return parse_int(col)


def clean_user(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Clean raw user records (batch or stream): returns (clean_df, rejects_df)."""
    raw = lambda name: raw_field(df, name)  # noqa: E731
    ind = parse_ind(F.coalesce(raw("ind"), raw("index")))
    outputs = {
        "ind": ind,
        "user_name": build_user_name(raw("first_name"), raw("last_name")),
        "age": parse_age(raw("age")),
        "date_joined": parse_timestamp_utc(raw("date_joined")),
    }
    return split_clean_and_rejects(df, "user", outputs, key_reject_reason(malformed_flag(df), ind))
