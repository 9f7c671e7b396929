"""Reference copy (frozen): the cleaning library's `user` module as of commit 542c54f, before the
speed work of issue 13. test_equivalence.py checks that the current library gives the same
rows as this copy. Do not edit except to follow renamed imports.
"""
# ruff: noqa

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pinterest_assets import entities as registry
from pinterest_assets_tests.cleaning.reference.common import (
    malformed_flag,
    normalize_text,
    parse_bounded_int,
    parse_ind,
    parse_timestamp_utc,
    raw_field,
    split_clean_and_rejects,
)
from pinterest_assets_tests.cleaning.reference.geo import key_reject_reason

USER_COLUMNS = registry.entity("user").columns


def build_user_name(first_name: Column, last_name: Column) -> Column:
    """Normalized first and last name joined by one space; one present -> that one; none -> NULL.

    Example: (``" Ana "``, ``"Lopez\\u00a0Diaz"``) -> ``"Ana Lopez Diaz"``; (NULL, ``"Lee"``) -> ``"Lee"``.
    """
    joined = F.concat_ws(" ", normalize_text(first_name), normalize_text(last_name))
    return F.nullif(joined, F.lit(""))


def parse_age(col: Column) -> Column:
    """Age as an int from an integer or integer-like string; outside [13, 120] or not an integer -> NULL.

    Example: ``"34"`` -> 34; ``" 34 "`` -> 34; ``"12"`` -> NULL; ``"34.5"`` -> NULL.
    """
    return parse_bounded_int(col, 13, 120)


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
