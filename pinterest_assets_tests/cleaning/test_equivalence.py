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
from pinterest_ingest import datagen, dirty

NEW = {"pin": new_pin.clean_pin, "geo": new_geo.clean_geo, "user": new_user.clean_user}
OLD = {"pin": old_pin.clean_pin, "geo": old_geo.clean_geo, "user": old_user.clean_user}

@pytest.fixture(scope="module")
def dataset():
    data = datagen.generate(n_pins=4_000, seed=13)
    rng = random.Random(13)
    dirtier = {
        "pin": [dirty.mutated_pin(rng, p) for p in data["pin"][:3_000]],
        "geo": [dirty.mutated_geo(rng, g) for g in data["geo"][:2_000]],
        "user": [dirty.mutated_user(rng, u) for u in data["user"][:2_000]],
    }
    extra = ["not json {", "[1, 2]", "{}", '{"index": 1}', '{"unique_id": null, "index": 2}']
    lines = {
        entity: [json.dumps(r, ensure_ascii=False) for r in data[entity] + dirtier[entity]] + extra
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


def test_the_dirty_generator_uses_the_cleanings_whitespace_and_zero_width_characters():
    assert (dirty.WHITESPACE, dirty.ZERO_WIDTH) == (WHITESPACE_CHARS, ZERO_WIDTH_CHARS)


def test_each_whitespace_and_zero_width_character_takes_the_exact_path(spark):
    """Every character translate() changes is seen by the fast path's test (no false negative)."""
    from pyspark.sql import functions as F

    values = [f"a{ch}b" for ch in WHITESPACE_CHARS + ZERO_WIDTH_CHARS]
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    got = [r[0] for r in frame.orderBy("i").select(new_common.whitespace_to_space(F.col("v"))).collect()]
    assert got == ["a b"] * len(WHITESPACE_CHARS) + ["ab"] * len(ZERO_WIDTH_CHARS)
    flagged = frame.where(F.replace(F.col("v"), F.lit("\u00a0"), F.lit(" ")).rlike(new_common._NEEDS_TRANSLATE))
    assert flagged.count() == len(values) - 1  # all but NBSP, which the byte replace handles
