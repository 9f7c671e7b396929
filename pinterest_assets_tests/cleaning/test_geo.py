"""Geo rules: key, timestamp formats, coordinate ranges, country normalization."""

from __future__ import annotations

import pytest

CASES = [
    # timestamp: `yyyy-MM-dd HH:mm:ss` as UTC, ISO-8601 with T / fraction / Z / offset -> UTC
    ("timestamp", "2020-08-28 03:52:47", "2020-08-28T03:52:47Z"),
    ("timestamp", " 2017-01-01 00:00:00 ", "2017-01-01T00:00:00Z"),
    ("timestamp", "2020-08-28T03:52:47", "2020-08-28T03:52:47Z"),
    ("timestamp", "2020-08-28T03:52:47Z", "2020-08-28T03:52:47Z"),
    ("timestamp", "2020-08-28T03:52:47.250Z", "2020-08-28T03:52:47.250000Z"),
    ("timestamp", "2020-08-28T05:52:47+02:00", "2020-08-28T03:52:47Z"),
    ("timestamp", "2020-08-27T22:22:47.5-05:30", "2020-08-28T03:52:47.500000Z"),
    ("timestamp", "2022-12-31T23:59:59+0100", "2022-12-31T22:59:59Z"),
    ("timestamp", "2020-02-30 00:00:00", None),
    ("timestamp", "2020-08-28", None),
    ("timestamp", "28/08/2020 03:52:47", None),
    ("timestamp", "yesterday", None),
    ("timestamp", 1598586767, None),
    # latitude / longitude
    ("latitude", "-45.5", -45.5),
    ("latitude", -89.9999, -89.9999),
    ("latitude", 90, 90.0),
    ("latitude", "-90", -90.0),
    ("latitude", " 12.25 ", 12.25),
    ("latitude", 90.0001, None),
    ("latitude", "-91", None),
    ("latitude", "north", None),
    ("latitude", "NaN", None),
    ("longitude", 180, 180.0),
    ("longitude", "-179.25", -179.25),
    ("longitude", "180.5", None),
    ("longitude", -200, None),
    ("longitude", "Infinity", None),
    # country: normalized, characters and case kept
    ("country", " Holy See (Vatican City State)\u00a0", "Holy See (Vatican City State)"),
    ("country", "Bouvet Island (Bouvetoya)", "Bouvet Island (Bouvetoya)"),
    ("country", "Côte\u2009d'Ivoire", "Côte d'Ivoire"),
    ("country", "  ", None),
]


@pytest.fixture(scope="module")
def results(run_clean):
    clean, rejects = run_clean("geo", [{"ind": i, field: raw} for i, (field, raw, _) in enumerate(CASES)])
    assert rejects == []
    return {row["ind"]: row for row in clean}


@pytest.mark.parametrize(
    ("case", "field", "raw", "expected"),
    [(i, *c) for i, c in enumerate(CASES)],
    ids=[f"{f}={r!r}" for f, r, _ in CASES],
)
def test_geo_field_rule(results, case, field, raw, expected):
    assert results[case][field] == expected


def test_geo_record_keys_schema_and_rejects(run_clean, spark):
    records = [
        {"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787,
         "longitude": -173.293, "country": "Albania", "extra": 1},
        {"index": " 11 ", "timestamp": "2019-01-01 00:00:00"},
        {"ind": "abc", "country": "France"},
        {"ind": 1.5},
        {"country": "Peru"},
        "{broken",
    ]
    clean, rejects = run_clean("geo", records)
    assert clean == [
        {"ind": 7528, "timestamp": "2020-08-28T03:52:47Z", "latitude": -89.9787,
         "longitude": -173.293, "country": "Albania", "_line": 1},
        {"ind": 11, "timestamp": "2019-01-01T00:00:00Z", "latitude": None,
         "longitude": None, "country": None, "_line": 2},
    ]
    assert [(r["_line"], r["reason"]) for r in rejects] == [
        (3, "invalid_ind"), (4, "invalid_ind"), (5, "invalid_ind"), (6, "malformed_json"),
    ]

    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.cleaning.geo import clean_geo

    frame = raw_frame_from_json(spark.createDataFrame([("{}",)], "value string"), entity="geo")
    clean_df, _ = clean_geo(frame)
    assert [(f.name, f.dataType.simpleString()) for f in clean_df.schema.fields] == [
        ("ind", "bigint"), ("timestamp", "timestamp"), ("latitude", "double"),
        ("longitude", "double"), ("country", "string"),
    ]
