"""Pin rules, each with the issue's examples, run through clean_pin in one Spark job."""

from __future__ import annotations

import pytest

from pinterest_assets.cleaning.pin import PIN_COLUMNS

# What the real dataset's worst rows look like: every placeholder in one record.
ALL_PLACEHOLDERS = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "No Title Data Available",
    "description": "No description available Story format",
    "poster_name": "User Info Error",
    "follower_count": "User Info Error",
    "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)",
    "image_src": "Image src error.",
    "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion",
    "category": "mens-fashion",
}

# (field, raw value, expected clean value); each case becomes its own record.
FIELD_CASES = [
    # text normalization
    ("title", "  Winter\u00a0\u00a0cabin\u200b ❄️\n", "Winter cabin ❄️"),
    ("title", "Зимний\t\tдомик  у озера", "Зимний домик у озера"),
    ("title", "Café\u2003crème ♔ …\u3000", "Café crème ♔ …"),
    ("title", "a\u202fb\u205fc\u2000d\u200ae\r\nf", "a b c d e f"),
    ("title", "zero\u200b\u200c\u200d\u2060\ufeffwidth", "zerowidth"),
    ("title", " \t\u00a0\u200b ", None),
    ("title", "", None),
    # placeholders, after normalization, any case
    ("title", "No Title Data Available", None),
    ("title", "  no title\u00a0data available ", None),
    ("title", "Untitled", None),
    ("title", "Untitled house", "Untitled house"),
    ("description", "No description available Story format", None),
    ("description", "No description available", None),
    ("description", "UNTITLED", None),
    ("description", "Easy\u00a0dinner recipes…", "Easy dinner recipes…"),
    ("poster_name", "User Info Error", None),
    ("poster_name", " Maya  K. ", "Maya K."),
    # follower_count
    ("follower_count", "124k", 124000),
    ("follower_count", "1M", 1000000),
    ("follower_count", "437", 437),
    ("follower_count", "User Info Error", None),
    ("follower_count", "1.5k", 1500),
    ("follower_count", "2.5M", 2500000),
    ("follower_count", "1,234", 1234),
    ("follower_count", "1,234,567", 1234567),
    ("follower_count", " 12 K ", 12000),
    ("follower_count", "1.15k", 1150),
    ("follower_count", "3B", 3000000000),
    ("follower_count", "0.5", 1),
    ("follower_count", "1.2345k", 1235),
    ("follower_count", 437, 437),
    ("follower_count", 0, 0),
    ("follower_count", 25000000.0, 25000000),  # a JSON float: Spark renders it "2.5E7"
    ("follower_count", 1500.4, 1500),
    ("follower_count", "1.5e3", 1500),
    ("follower_count", "-5", None),
    ("follower_count", -5, None),
    ("follower_count", "5k+", None),
    ("follower_count", "k", None),
    ("follower_count", "", None),
    ("follower_count", "99999999999B", None),
    # the integer fast path's edges: 9 digits with the largest multiplier, 10 digits, line breaks
    ("follower_count", "123456789B", 123456789000000000),
    ("follower_count", "1234567890k", 1234567890000),
    ("follower_count", "12k\n", 12000),
    ("follower_count", "\n12k", 12000),
    ("follower_count", "007", 7),
    # tag_list
    ("tag_list", "#travel, Beach ,travel,,#", ["travel", "Beach"]),
    ("tag_list", "#,t,r,a,v,e,l", ["travel"]),
    ("tag_list", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", None),
    ("tag_list", "No Tags Available", None),
    ("tag_list", "Винтаж,  art\u00a0deco ,😀,Café", ["Винтаж", "art deco", "😀", "Café"]),
    ("tag_list", "#Travel,#travel, ## beach", ["Travel", "travel", "beach"]),
    ("tag_list", "a,b", ["ab"]),  # every piece one character: character-spread by the rule
    ("tag_list", "ab,c", ["ab", "c"]),
    ("tag_list", ", ,", None),
    ("tag_list", "", None),
    ("tag_list", ["#a", "b, c", "a", " ", "\u00a0#d "], ["a", "b, c", "d"]),
    ("tag_list", ["#", "t", "r", "i", "p"], ["trip"]),
    ("tag_list", [], None),
    # is_image_or_video
    ("is_image_or_video", "image", "image"),
    ("is_image_or_video", "video", "video"),
    ("is_image_or_video", "multi-video(story page format)", "story"),
    ("is_image_or_video", " Image ", "image"),
    ("is_image_or_video", "Story", "story"),
    ("is_image_or_video", "gif", None),
    # image_src
    ("image_src", "Image src error.", None),
    ("image_src", "image src error", None),
    ("image_src", "https://i.pinimg.com/originals/d5/3b/01/d53b014d86a6b6761bf649a0ed813c2b.png",
     "https://i.pinimg.com/originals/d5/3b/01/d53b014d86a6b6761bf649a0ed813c2b.png"),
    ("image_src", "http://example.com/a.jpg", "http://example.com/a.jpg"),
    ("image_src", "ftp://example.com/a.jpg", None),
    ("image_src", "i.pinimg.com/a.jpg", None),
    # downloaded
    ("downloaded", 1, True),
    ("downloaded", "1", True),
    ("downloaded", True, True),
    ("downloaded", "true", True),
    ("downloaded", 0, False),
    ("downloaded", "0", False),
    ("downloaded", False, False),
    ("downloaded", "false", False),
    ("downloaded", "yes", None),
    ("downloaded", 2, None),
    # save_location
    ("save_location", "Local save in /data/travel", "/data/travel"),
    ("save_location", "local SAVE IN   /data/home-decor", "/data/home-decor"),
    ("save_location", "/data/art", "/data/art"),
    ("save_location", "Local save in data/art", None),
    ("save_location", "somewhere", None),
    # category
    ("category", " Home-Decor ", "home-decor"),
    ("category", "DIY-and-Crafts", "diy-and-crafts"),
]


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture(scope="module")
def field_results(run_clean):
    records = [{"index": i, "unique_id": _uuid(i), field: raw} for i, (field, raw, _) in enumerate(FIELD_CASES)]
    clean, rejects = run_clean("pin", records)
    assert rejects == []
    return {row["ind"]: row for row in clean}


@pytest.mark.parametrize(
    ("case", "field", "raw", "expected"),
    [(i, *c) for i, c in enumerate(FIELD_CASES)],
    ids=[f"{f}={r!r}" for f, r, _ in FIELD_CASES],
)
def test_pin_field_rule(field_results, case, field, raw, expected):
    assert field_results[case][field] == expected


def test_record_with_every_placeholder_keeps_only_real_values(run_clean):
    clean, rejects = run_clean("pin", [ALL_PLACEHOLDERS])
    assert rejects == []
    assert clean == [{
        "ind": 7528,
        "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
        "title": None,
        "description": None,
        "poster_name": None,
        "follower_count": None,
        "tag_list": None,
        "is_image_or_video": "story",
        "image_src": None,
        "downloaded": False,
        "save_location": "/data/mens-fashion",
        "category": "mens-fashion",
        "_line": 1,
    }]


def test_typical_record_and_output_schema(run_clean, spark):
    record = {
        "index": 2863,
        "unique_id": "9BB8B4F4-2A54-4D61-8E0B-2D1B5A7C3E11 ",
        "title": "20 Cozy Living Room Ideas\u00a0",
        "description": "Warm neutrals, layered textiles and soft lighting…",
        "poster_name": "The Spruce",
        "follower_count": "1M",
        "tag_list": "Cozy Living Room,Living Room Decor,#homedecor",
        "is_image_or_video": "image",
        "image_src": "https://i.pinimg.com/originals/aa/bb/cc.jpg",
        "downloaded": 1,
        "save_location": "Local save in /data/home-decor",
        "category": "home-decor",
        "unknown_field": "dropped",
    }
    clean, _ = run_clean("pin", [record])
    assert clean == [{
        "ind": 2863,
        "unique_id": "9bb8b4f4-2a54-4d61-8e0b-2d1b5a7c3e11",
        "title": "20 Cozy Living Room Ideas",
        "description": "Warm neutrals, layered textiles and soft lighting…",
        "poster_name": "The Spruce",
        "follower_count": 1000000,
        "tag_list": ["Cozy Living Room", "Living Room Decor", "homedecor"],
        "is_image_or_video": "image",
        "image_src": "https://i.pinimg.com/originals/aa/bb/cc.jpg",
        "downloaded": True,
        "save_location": "/data/home-decor",
        "category": "home-decor",
        "_line": 1,
    }]


def test_output_columns_and_types(spark):
    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.cleaning.pin import clean_pin

    raw = raw_frame_from_json(spark.createDataFrame([("{}", 1)], "value string, _offset long"), entity="pin")
    clean, rejects = clean_pin(raw)
    assert tuple(clean.columns) == (*PIN_COLUMNS, "_offset")
    types = {f.name: f.dataType.simpleString() for f in clean.schema.fields}
    assert types == {
        "ind": "bigint", "unique_id": "string", "title": "string", "description": "string",
        "poster_name": "string", "follower_count": "bigint", "tag_list": "array<string>",
        "is_image_or_video": "string", "image_src": "string", "downloaded": "boolean",
        "save_location": "string", "category": "string", "_offset": "bigint",
    }
    assert rejects.columns == ["raw", "reason", "_offset"]


def test_key_rules_and_rejects(run_clean):
    good = "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    records = [
        {"index": " 42 ", "unique_id": " 5D2C8C5F-1A2B-4C3D-8E9F-0A1B2C3D4E5F "},  # clean, ind 42
        {"ind": 43, "unique_id": "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e60"},           # `ind` name accepted
        {"index": "7.5", "unique_id": good},
        {"index": "seven", "unique_id": good},
        {"unique_id": good},
        {"index": 1, "unique_id": "5d2c8c5f1a2b4c3d8e9f0a1b2c3d4e5f"},
        {"index": 2, "unique_id": "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e5g"},
        {"index": 3},
        {"index": "x", "unique_id": "bad"},  # both wrong: the index is reported first
        "not json at all",
        "[1, 2]",
        '"a string"',
        "{'index': 1}",
        '{"index": 1, "unique_id": ',
    ]
    clean, rejects = run_clean("pin", records)
    assert [(r["ind"], r["unique_id"]) for r in clean] == [
        (42, "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"),
        (43, "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e60"),
    ]
    assert [(r["_line"], r["reason"]) for r in rejects] == [
        (3, "invalid_ind"), (4, "invalid_ind"), (5, "invalid_ind"),
        (6, "invalid_unique_id"), (7, "invalid_unique_id"), (8, "invalid_unique_id"),
        (9, "invalid_ind"),
        (10, "malformed_json"), (11, "malformed_json"), (12, "malformed_json"),
        (13, "malformed_json"), (14, "malformed_json"),
    ]
    # the reject keeps the raw record as it arrived
    assert rejects[0]["raw"] == '{"index": "7.5", "unique_id": "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}'
    assert rejects[7]["raw"] == "not json at all"


def test_a_trailing_newline_in_unique_id_is_trimmed_like_the_api_keys_it(run_clean):
    """The API keys Kafka messages by entities.normalize_key; the cleaning must give the same key."""
    from pinterest_assets import entities as registry

    raw = "5d2c8c5f-1a2b-4c3d-8e9f-0a1b2c3d4e5f\n"
    clean, rejects = run_clean("pin", [{"index": 1, "unique_id": raw}, {"index": 2, "unique_id": " X\n"}])
    assert [r["unique_id"] for r in clean] == [registry.entity("pin").normalize_key(raw)] == [raw.strip()]
    assert [r["reason"] for r in rejects] == ["invalid_unique_id"]
