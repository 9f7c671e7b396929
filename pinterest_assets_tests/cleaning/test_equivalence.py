"""The cleaning library's output equals, row for row, that of the frozen copy taken before the
speed work (``reference/``): on the generated dataset as it is, and on the same records made
dirtier on purpose, so every fast path and every fallback is exercised.

Rows are compared as whole rows (every output and lineage column, NULLs and arrays included), as
multisets, so a missing, extra, duplicated or changed row fails the test.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from pinterest_assets.cleaning import common as new_common
from pinterest_assets.cleaning import geo as new_geo
from pinterest_assets.cleaning import pin as new_pin
from pinterest_assets.cleaning import user as new_user
from pinterest_assets.cleaning.common import WHITESPACE_CHARS, ZERO_WIDTH_CHARS
from pinterest_assets_tests.cleaning.reference import common as old_common
from pinterest_assets_tests.cleaning.reference import geo as old_geo
from pinterest_assets_tests.cleaning.reference import pin as old_pin
from pinterest_assets_tests.cleaning.reference import user as old_user
from pinterest_ingest import datagen

NEW = {"pin": new_pin.clean_pin, "geo": new_geo.clean_geo, "user": new_user.clean_user}
OLD = {"pin": old_pin.clean_pin, "geo": old_geo.clean_geo, "user": old_user.clean_user}

# Characters the fast paths must either leave alone or send to the exact slow path.
NASTY = list(WHITESPACE_CHARS + ZERO_WIDTH_CHARS) + [
    " ", "  ", "\u00a0", "\u00a0\u00a0", "#", "##", ",", ", ", " ,", ",,", "…", "😀", "❤️", "Ж", "É", "ß", "İ",
    "\ufffd", "\u2061", "\u206f", "\u200e", "\x7f", "\x01", "\x00", "\u2027", "\u2030", "\u205e", "\u3001",
    "\ufeff", "\ufffe", "\U0001f600", "[", "]", "\"", "\\", "k", "M", ".", "-", "+", "e", "/",
]


def _mutate_text(rng: random.Random, value: str) -> str:
    chars = list(value)
    for _ in range(rng.randint(1, 4)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(NASTY))
    text = "".join(chars)
    roll = rng.random()
    if roll < 0.1:
        text = text.upper()
    elif roll < 0.2:
        text = f" {text} "
    elif roll < 0.25:
        text = ""
    return text


def _mutated_tags(rng: random.Random, value: str):
    roll = rng.random()
    if roll < 0.15:  # character-spread, with or without a hashtag and dirt
        word = rng.choice(["#travel", "Home Decor", "#", "a", "Ж😀", "No Tags Available", "#\u00a0x", "x\u200by"])
        return ",".join(word)
    if roll < 0.25:  # a JSON array, dirty elements included
        return [_mutate_text(rng, t) if rng.random() < 0.5 else t for t in value.split(",")[:5]] + [rng.choice(NASTY)]
    if roll < 0.3:
        return "[" + value  # looks like an array, isn't one
    if roll < 0.35:
        return rng.choice(["No Tags Available", "no tags available", "", ",", " , ", "#,#", "ab", "a,b"])
    pieces = value.split(",")
    return ",".join(_mutate_text(rng, p) if rng.random() < 0.3 else p for p in pieces)


def _mutated_pin(rng: random.Random, pin: dict) -> dict:
    out = dict(pin)
    for field in ("title", "description", "poster_name", "is_image_or_video", "image_src", "save_location",
                  "category"):
        if out.get(field) is not None and rng.random() < 0.5:
            out[field] = _mutate_text(rng, str(out[field]))
    if rng.random() < 0.6:
        out["tag_list"] = _mutated_tags(rng, out["tag_list"])
    roll = rng.random()
    if roll < 0.2:
        out["follower_count"] = _mutate_text(rng, out["follower_count"])
    elif roll < 0.3:
        out["follower_count"] = rng.choice([0, 437, 1.5e7, 1500.5, -3, "1,234,567", " 12 K ", "2.5E7", "1e3k", "1.2.3",
                                          "12k\n", "\u00a012k", "123456789B", "1234567890k", "0k"])
    roll = rng.random()
    if roll < 0.1:
        out["unique_id"] = rng.choice([" ", "\u00a0", "\u200b", "\t"]) + out["unique_id"].upper() + " "
    elif roll < 0.15:
        out["unique_id"] = out["unique_id"].replace("-", "")
    roll = rng.random()
    if roll < 0.1:
        out["index"] = f" {out['index']} "
    elif roll < 0.15:
        out["index"] = rng.choice(["+7", "007", "-0", "7.0", "x", 7.5, None, "9223372036854775808"])
    if rng.random() < 0.1:
        out["downloaded"] = rng.choice(["1", "true", " TRUE ", "0", "false", "yes", 1, 0, True, None])
    return out


def _mutated_geo(rng: random.Random, geo: dict) -> dict:
    out = dict(geo)
    if rng.random() < 0.3:
        out["country"] = _mutate_text(rng, out["country"])
    if rng.random() < 0.2:
        out["latitude"] = rng.choice([" 45.5 ", "\u00a0-12", "91", "north", "1\u200b2", "NaN", 1e3, "-90"])
    if rng.random() < 0.2:
        out["timestamp"] = rng.choice([" 2020-08-28 03:52:47 ", "2020-08-28T05:52:47.5+02:00", "2020-02-30 00:00:00", "x"])
    if rng.random() < 0.1:
        out["ind"] = rng.choice([" 3 ", "three", None])
    return out


def _mutated_user(rng: random.Random, user: dict) -> dict:
    out = dict(user)
    for field in ("first_name", "last_name"):
        if rng.random() < 0.4:
            out[field] = _mutate_text(rng, out[field])
    if rng.random() < 0.2:
        out["age"] = rng.choice([" 34 ", "12", "34.5", 121, "\u00a040"])
    if rng.random() < 0.1:
        out["ind"] = rng.choice([" 3 ", "three", None])
    return out


@pytest.fixture(scope="module")
def dataset():
    data = datagen.generate(n_pins=4_000, seed=13)
    rng = random.Random(13)
    dirty = {
        "pin": [_mutated_pin(rng, p) for p in data["pin"][:3_000]],
        "geo": [_mutated_geo(rng, g) for g in data["geo"][:2_000]],
        "user": [_mutated_user(rng, u) for u in data["user"][:2_000]],
    }
    extra = ["not json {", "[1, 2]", "{}", '{"index": 1}', '{"unique_id": null, "index": 2}']
    lines = {
        entity: [json.dumps(r, ensure_ascii=False) for r in data[entity] + dirty[entity]] + extra
        for entity in ("pin", "geo", "user")
    }
    return lines


def _rows(df) -> list[str]:
    """Every row as canonical JSON text (arrays, NULLs, timestamps included), sorted."""
    return sorted(json.dumps(r.asDict(recursive=True), sort_keys=True, default=str, ensure_ascii=False)
                  for r in df.collect())


def _differences(old_rows: list[str], new_rows: list[str], limit: int = 5) -> list[str]:
    """Rows only one side has (as a multiset), a few of each; [] when both sides are equal."""
    old_count, new_count = Counter(old_rows), Counter(new_rows)
    return [f"old only: {r}" for r in list((old_count - new_count).elements())[:limit]] + [
        f"new only: {r}" for r in list((new_count - old_count).elements())[:limit]
    ]


@pytest.mark.parametrize("entity", ["pin", "geo", "user"])
def test_same_rows_as_before_from_json_lines(spark, dataset, entity):
    """Kafka/landing shape: JSON text through raw_frame_from_json, then the cleaner."""
    lines = dataset[entity]
    frame = spark.createDataFrame([(line, i) for i, line in enumerate(lines)], "value string, _line long").cache()
    old_clean, old_rejects = OLD[entity](old_common.raw_frame_from_json(frame, "value", entity))
    new_clean, new_rejects = NEW[entity](new_common.raw_frame_from_json(frame, "value", entity))

    assert new_clean.columns == old_clean.columns
    assert new_rejects.columns == old_rejects.columns
    assert new_clean.schema == old_clean.schema
    clean_rows, reject_rows = _rows(new_clean), _rows(new_rejects)
    assert _differences(_rows(old_clean), clean_rows) == []
    assert _differences(_rows(old_rejects), reject_rows) == []
    # the comparison is not vacuous: most rows are clean, every reject kind is there
    assert len(clean_rows) + len(reject_rows) == len(lines)
    assert len(clean_rows) > len(lines) * 0.8
    assert len(reject_rows) >= 3
    frame.unpersist()


def test_same_pins_as_before_from_a_schema_read(spark, dataset, tmp_path):
    """Benchmark shape: spark.read.json with an all-string schema (no `_raw`, no `_malformed`)."""
    from pyspark.sql.types import StringType, StructField, StructType

    from pinterest_assets import entities

    path = tmp_path / "pins.jsonl"
    path.write_text("\n".join(dataset["pin"]) + "\n", encoding="utf-8")
    schema = StructType([StructField(name, StringType()) for name in entities.entity("pin").raw_fields])
    frame = spark.read.schema(schema).json(str(path))
    old_clean, old_rejects = old_pin.clean_pin(frame)
    new_clean, new_rejects = new_pin.clean_pin(frame)
    assert new_clean.schema == old_clean.schema
    clean_rows = _rows(new_clean)
    assert _differences(_rows(old_clean), clean_rows) == []
    assert _differences(_rows(old_rejects), _rows(new_rejects)) == []
    assert len(clean_rows) > 5_500


def test_each_whitespace_and_zero_width_character_takes_the_exact_path(spark):
    """Every character translate() changes is seen by the fast path's test (no false negative)."""
    from pyspark.sql import functions as F

    values = [f"a{ch}b" for ch in WHITESPACE_CHARS + ZERO_WIDTH_CHARS]
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    got = [r[0] for r in frame.orderBy("i").select(new_common.whitespace_to_space(F.col("v"))).collect()]
    assert got == ["a b"] * len(WHITESPACE_CHARS) + ["ab"] * len(ZERO_WIDTH_CHARS)
    flagged = frame.where(F.replace(F.col("v"), F.lit("\u00a0"), F.lit(" ")).rlike(new_common._NEEDS_TRANSLATE))
    assert flagged.count() == len(values) - 1  # all but NBSP, which the byte replace handles
