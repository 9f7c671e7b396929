"""The cleaning library's output equals the golden rows (``golden/``), row for row: on generated
records as they are, the same made dirtier on purpose (every fast path and fallback), and odd lines.

Whole rows are compared (every output and lineage column, NULLs and arrays included), so a missing,
extra, duplicated or changed row fails. An intended rule change: regenerate the fixture
(``python -m pinterest_assets_tests.cleaning.golden``) and review its diff.
"""

from __future__ import annotations

import difflib

import pytest

from pinterest_assets.cleaning import common
from pinterest_assets.cleaning.common import WHITESPACE_CHARS, ZERO_WIDTH_CHARS
from pinterest_assets_tests.cleaning import golden
from pinterest_ingest import dirty


def _differences(expected: list[str], got: list[str], limit: int = 10) -> list[str]:
    """A few lines of a unified diff; [] when equal."""
    return list(difflib.unified_diff(expected, got, "golden", "now", n=0, lineterm=""))[:limit]


@pytest.mark.parametrize("entity", golden.ENTITIES)
def test_the_cleaning_makes_the_golden_rows(spark, entity):
    schemas = golden.schemas()
    made = golden.outputs(spark, entity)
    assert sorted(made) == sorted(n for n in schemas if n.startswith(f"{entity}."))
    for name, (rows, schema) in made.items():
        assert schema == schemas[name], name
        assert _differences(golden.expected(name), rows) == [], name
    # not vacuous: most lines are clean, and every reject kind of the odd lines is there
    lines = golden.input_lines(entity)
    clean, rejects = made[f"{entity}.clean"][0], made[f"{entity}.rejects"][0]
    assert len(clean) + len(rejects) == len(lines)
    assert len(clean) > len(lines) * 0.8
    assert len(rejects) >= 3


def test_the_dirty_generator_uses_the_cleanings_whitespace_and_zero_width_characters():
    assert (dirty.WHITESPACE, dirty.ZERO_WIDTH) == (WHITESPACE_CHARS, ZERO_WIDTH_CHARS)


def test_each_whitespace_and_zero_width_character_takes_the_exact_path(spark):
    """Every character translate() changes is seen by the fast path's test (no false negative)."""
    from pyspark.sql import functions as F

    values = [f"a{ch}b" for ch in WHITESPACE_CHARS + ZERO_WIDTH_CHARS]
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    got = [r[0] for r in frame.orderBy("i").select(common.whitespace_to_space(F.col("v"))).collect()]
    assert got == ["a b"] * len(WHITESPACE_CHARS) + ["ab"] * len(ZERO_WIDTH_CHARS)
    flagged = frame.where(F.replace(F.col("v"), F.lit("\u00a0"), F.lit(" ")).rlike(common._NEEDS_TRANSLATE))
    assert flagged.count() == len(values) - 1  # all but NBSP, which the byte replace handles
