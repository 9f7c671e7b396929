"""User rules: key, user_name, age range, date_joined."""

from __future__ import annotations

import pytest

# (raw fields, expected user_name, age, date_joined)
CASES = [
    ({"first_name": "Andrea", "last_name": "Alexander"}, "Andrea Alexander"),
    ({"first_name": " Ana\u00a0", "last_name": "López\u2003 Díaz"}, "Ana López Díaz"),
    ({"first_name": "Лев", "last_name": "Толстой"}, "Лев Толстой"),
    ({"first_name": "Cher"}, "Cher"),
    ({"last_name": "Lee"}, "Lee"),
    ({"first_name": " ", "last_name": "Lee"}, "Lee"),
    ({"first_name": "\u200b", "last_name": "\t"}, None),
    ({}, None),
]

AGE_CASES = [
    ("34", 34), (34, 34), (" 34 ", 34), (13, 13), (120, 120), ("12", None), (121, None),
    ("34.5", None), (34.5, None), ("thirty", None), ("-20", None), ("", None),
]

DATE_CASES = [
    ("2015-10-20 09:04:56", "2015-10-20T09:04:56Z"),
    ("2016-02-29T23:59:59Z", "2016-02-29T23:59:59Z"),
    ("2017-06-01T12:00:00.125+02:00", "2017-06-01T10:00:00.125000Z"),
    ("2017-02-29 00:00:00", None),
    ("June 2016", None),
]


@pytest.fixture(scope="module")
def results(run_clean):
    records = []
    for fields, _ in CASES:
        records.append({"ind": len(records), **fields})
    for age, _ in AGE_CASES:
        records.append({"ind": len(records), "age": age})
    for joined, _ in DATE_CASES:
        records.append({"ind": len(records), "date_joined": joined})
    clean, rejects = run_clean("user", records)
    assert rejects == []
    return [row for row in clean]


@pytest.mark.parametrize(("case", "expected"), list(enumerate(e for _, e in CASES)))
def test_user_name(results, case, expected):
    assert results[case]["user_name"] == expected


@pytest.mark.parametrize(("case", "raw", "expected"), [(len(CASES) + i, *c) for i, c in enumerate(AGE_CASES)])
def test_age(results, case, raw, expected):
    assert results[case]["age"] == expected


@pytest.mark.parametrize(
    ("case", "raw", "expected"), [(len(CASES) + len(AGE_CASES) + i, *c) for i, c in enumerate(DATE_CASES)]
)
def test_date_joined(results, case, raw, expected):
    assert results[case]["date_joined"] == expected


def test_user_record_schema_and_rejects(run_clean, spark):
    clean, rejects = run_clean("user", [
        {"ind": 2418, "first_name": "Christopher", "last_name": "Bell", "age": 20,
         "date_joined": "2015-12-25 23:44:05"},
        {"index": "9", "first_name": "Kim"},
        {"ind": "", "first_name": "Nobody"},
        "null",
    ])
    assert clean == [
        {"ind": 2418, "user_name": "Christopher Bell", "age": 20,
         "date_joined": "2015-12-25T23:44:05Z", "_line": 1},
        {"ind": 9, "user_name": "Kim", "age": None, "date_joined": None, "_line": 2},
    ]
    assert [(r["_line"], r["reason"]) for r in rejects] == [(3, "invalid_ind"), (4, "malformed_json")]

    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.cleaning.user import clean_user

    clean_df, _ = clean_user(raw_frame_from_json(spark.createDataFrame([("{}",)], "value string"), entity="user"))
    assert [(f.name, f.dataType.simpleString()) for f in clean_df.schema.fields] == [
        ("ind", "bigint"), ("user_name", "string"), ("age", "int"), ("date_joined", "timestamp"),
    ]
