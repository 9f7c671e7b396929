"""Property tests: Spark's rules against plain-Python references of the same rules.

Each hypothesis example is a whole batch of values, checked in one Spark job, so a few dozen
examples cover thousands of values without thousands of Spark jobs.
"""

from __future__ import annotations

import re
import sys
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from pinterest_assets.cleaning.common import WHITESPACE_CHARS, ZERO_WIDTH_CHARS, normalize_text
from pinterest_assets.cleaning.pin import parse_follower_count

ZERO_WIDTH = set("\u200b\u200c\u200d\u2060\ufeff")
BIGINT_MAX = 2**63 - 1

SPARK_SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def normalize_reference(text: str | None) -> str | None:
    """The rule in plain Python: isspace() -> space, zero-width removed, runs collapsed, trimmed."""
    if text is None:
        return None
    spaced = "".join(" " if ch.isspace() else ch for ch in text if ch not in ZERO_WIDTH)
    collapsed = re.sub(" +", " ", spaced).strip(" ")
    return collapsed or None


def follower_reference(text: str | None) -> int | None:
    """The rule in plain Python with exact decimals and half-up rounding."""
    if text is None:
        return None
    compact = "".join(ch for ch in text if not (ch.isspace() or ch in ZERO_WIDTH or ch == ","))
    match = re.fullmatch(r"((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([kKmMbB]?)", compact)
    if not match:
        return None
    multiplier = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}[match.group(2).lower()]
    value = (Decimal(match.group(1)) * multiplier).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(value) if value <= BIGINT_MAX else None


def test_whitespace_set_is_exactly_unicode_whitespace():
    unicode_spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()} - {" "}
    assert set(WHITESPACE_CHARS) == unicode_spaces
    assert set(ZERO_WIDTH_CHARS) == ZERO_WIDTH


def _spark_column(spark, values, rule):
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    return [r[1] for r in sorted(frame.select("i", rule(F.col("v"))).collect())]


interesting_chars = st.sampled_from(
    list(WHITESPACE_CHARS + ZERO_WIDTH_CHARS) + [" ", " ", "a", "é", "Ж", "😀", "…", "♔", "#", ",", "\u00ad"]
)
texts = st.text(alphabet=st.one_of(interesting_chars, st.characters(codec="utf-8")), max_size=30)


@SPARK_SETTINGS
@given(values=st.lists(st.one_of(st.none(), texts), min_size=1, max_size=200))
def test_normalize_text_matches_reference(spark, values):
    assert _spark_column(spark, values, normalize_text) == [normalize_reference(v) for v in values]


digits = st.text(alphabet="0123456789", min_size=1, max_size=12)
separators = st.sampled_from(["", "", "", ",", " ", "\u00a0", "\u200b"])


@st.composite
def follower_texts(draw):
    """Mostly well-formed counts (with separators, fractions, suffixes), some near-misses.

    Exponent forms (``2.5E7``, how Spark renders large JSON floats) are covered by examples in
    test_pin; here fractions stay within 6 digits, inside decimal(38,18) exactness.
    """
    whole = draw(digits)
    sep = draw(separators)
    if len(whole) > 3 and sep:
        whole = f"{whole[:-3]}{sep}{whole[-3:]}"
    fraction = draw(st.one_of(st.just(""), st.text(alphabet="0123456789", min_size=0, max_size=6).map(lambda f: "." + f)))
    suffix = draw(st.sampled_from(["", "", "k", "K", "m", "M", "b", "B", "x", "kk"]))
    pad = draw(st.sampled_from(["", " ", "\t", "\u00a0"]))
    sign = draw(st.sampled_from(["", "", "", "-", "+"]))
    return f"{pad}{sign}{whole}{fraction}{pad}{suffix}{pad}"


follower_values = st.one_of(
    follower_texts(),
    st.text(alphabet="0123456789.,kKmMbB -+", max_size=10),
    st.sampled_from(["User Info Error", "", ".", "1.2.3", "k", "1.5kb"]),
)


@SPARK_SETTINGS
@given(values=st.lists(follower_values, min_size=1, max_size=200))
def test_follower_count_matches_reference(spark, values):
    assert _spark_column(spark, values, parse_follower_count) == [follower_reference(v) for v in values]
