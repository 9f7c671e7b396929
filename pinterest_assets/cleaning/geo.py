"""Geo cleaning rules, composed by clean_geo."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pinterest_assets import entities as registry
from pinterest_assets.cleaning.common import (
    malformed_flag,
    normalize_text,
    parse_double,
    parse_ind,
    parse_timestamp_utc,
    raw_field,
    split_clean_and_rejects,
)

GEO_COLUMNS = registry.entity("geo").columns


def parse_latitude(col: Column) -> Column:
    """Latitude as a double from a number or numeric string; its Domain [-90, 90] (registry) makes
    a value outside it NULL.

    Example: ``"-45.5"`` -> -45.5; ``91`` -> 91.0 here, NULL after the domain.
    """
    return parse_double(col)


def parse_longitude(col: Column) -> Column:
    """Longitude as a double from a number or numeric string; its Domain [-180, 180] (registry)
    makes a value outside it NULL.

    Example: ``"179.9"`` -> 179.9; ``"-180.5"`` -> -180.5 here, NULL after the domain.
    """
    return parse_double(col)


def clean_country(col: Column) -> Column:
    """Country name, whitespace-normalized with its characters and case kept.

    Example: ``" Holy See (Vatican City State)\\u00a0"`` -> ``"Holy See (Vatican City State)"``.
    """
    return normalize_text(col)


def key_reject_reason(malformed: Column, ind: Column) -> Column:
    """Why a geo/user record is quarantined, NULL when clean: malformed_json or invalid_ind."""
    return F.when(malformed, "malformed_json").when(ind.isNull(), "invalid_ind")


def clean_geo(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Clean raw geo records (batch or stream): returns (clean_df, rejects_df)."""
    raw = lambda name: raw_field(df, name)  # noqa: E731
    ind = parse_ind(F.coalesce(raw("ind"), raw("index")))
    outputs = {
        "ind": ind,
        "timestamp": parse_timestamp_utc(raw("timestamp")),
        "latitude": parse_latitude(raw("latitude")),
        "longitude": parse_longitude(raw("longitude")),
        "country": clean_country(raw("country")),
    }
    return split_clean_and_rejects(df, "geo", outputs, key_reject_reason(malformed_flag(df), ind))
