"""The analysis layer on the fixed dataset of conftest.py: `dbt build` through Dagster (the dbt
tests as asset checks, row counts and column schemas as metadata), the eight marts against
answers computed by hand and by independent SQL, and the HTML report in headless Chromium."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict

import psycopg
import pytest

from pinterest_assets.report import MARTS, QUESTIONS

# dbt build (or the webserver) in the setup: slow on a loaded 2-core machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

# ----------------------------------------------------------------- answers computed by hand
HAND = {
    "category_by_country": [("Chad", "travel", 3), ("Peru", "art", 2), ("Togo", "quotes", 2)],
    "category_by_year": [(2018, "art", 2), (2019, "art", 2), (2020, "beauty", 1), (2021, "quotes", 1)],
    "top_user_by_country": [("Chad", "Bob", 2000, False), ("Peru", "Eve", 7000, True), ("Togo", "Hal", 900, False)],
    "category_by_age_group": [("18-24", "art", 1), ("25-35", "travel", 2), ("36-50", "art", 2), ("50+", "beauty", 1)],
    "median_followers_by_age_group": [("18-24", 100.0, 2), ("25-35", 2000.0, 4), ("36-50", 230.5, 4)],
    "users_joined_by_year": [(2015, 3), (2016, 4), (2017, 3)],
    "median_followers_by_join_year": [(2015, 100.0, 3), (2016, 2000.0, 5), (2017, 60.0, 3)],
    "median_followers_by_join_year_and_age_group": [
        ("18-24", 2015, 100.0, 2), ("25-35", 2016, 2000.0, 3), ("25-35", 2017, 900.0, 1),
        ("36-50", 2015, 7000.0, 1), ("36-50", 2016, 401.0, 1), ("36-50", 2017, 55.0, 2)],
}

# Natural order of each mart's rows for comparison (the first columns are its key).
KEY_ORDER = {
    "category_by_country": "country", "category_by_year": "year", "top_user_by_country": "country",
    "category_by_age_group": "age_group", "median_followers_by_age_group": "age_group",
    "users_joined_by_year": "join_year", "median_followers_by_join_year": "join_year",
    "median_followers_by_join_year_and_age_group": "age_group, join_year",
}


def mart_rows(dsn: str, mart: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"select * from analytics.{mart} order by {KEY_ORDER[mart]}").fetchall()


# ------------------------------------------- the same answers, computed independently of dbt
# SQL: the newest version of each key with row_number() over the Kafka log position, pins joined
# to geo and user by ind. Python: grouping, ranking with ties by name, medians (statistics.median).
INDEPENDENT_SQL = """
with pin as (
    select * from (select t.*, row_number() over (partition by unique_id
                   order by _kafka_partition desc, _kafka_offset desc, date desc) as n
                   from pinterest.pin_table t) v where n = 1),
geo as (
    select * from (select t.*, row_number() over (partition by ind
                   order by _kafka_partition desc, _kafka_offset desc, date desc) as n
                   from pinterest.geo_table t) v where n = 1),
usr as (
    select * from (select t.*, row_number() over (partition by ind
                   order by _kafka_partition desc, _kafka_offset desc, date desc) as n
                   from pinterest.user_table t) v where n = 1)
select pin.unique_id, pin.category, pin.poster_name, pin.follower_count, geo.country,
       date_part('year', geo."timestamp" at time zone 'UTC')::int as year, usr.age,
       date_part('year', usr.date_joined at time zone 'UTC')::int as join_year
from pin
left outer join geo on geo.ind = pin.ind
left outer join usr on usr.ind = pin.ind
"""


def age_group(age):
    if age is None or age < 18:
        return None
    return "18-24" if age <= 24 else "25-35" if age <= 35 else "36-50" if age <= 50 else "50+"


def most_popular(pairs) -> list[tuple]:
    """[(group, category)] -> [(group, top category, count)], ties to the smaller category name."""
    counts = Counter(pairs)
    best = {}
    for (group, category), n in counts.items():
        if group not in best or (-n, category) < (-best[group][1], best[group][0]):
            best[group] = (category, n)
    return sorted((g, c, n) for g, (c, n) in best.items())


def medians(pairs) -> list[tuple]:
    values = defaultdict(list)
    for group, followers in pairs:
        values[group].append(followers)
    return sorted((*(g if isinstance(g, tuple) else (g,)), float(statistics.median(v)), len(v))
                  for g, v in values.items())


def independent_answers(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn) as conn:
        pins = [dict(zip(("uid", "category", "poster", "followers", "country", "year", "age", "join_year"), r))
                for r in conn.execute(INDEPENDENT_SQL).fetchall()]
        users = conn.execute("""
            select date_part('year', date_joined at time zone 'UTC')::int from (
                select distinct on (ind) ind, date_joined from pinterest.user_table
                order by ind, _kafka_partition desc, _kafka_offset desc, date desc) u""").fetchall()
    for p in pins:
        p["group"] = age_group(p["age"])
    with_cat = [p for p in pins if p["category"] is not None]
    with_followers = [p for p in pins if p["followers"] is not None]

    top_poster = {}
    for p in pins:
        if p["country"] and p["poster"] and p["followers"] is not None:
            key = (p["country"], p["poster"])
            top_poster[key] = max(top_poster.get(key, p["followers"]), p["followers"])
    per_country = {}
    for (country, poster), followers in sorted(top_poster.items()):
        if country not in per_country or (-followers, poster) < (-per_country[country][1], per_country[country][0]):
            per_country[country] = (poster, followers)
    best_country = min(per_country.items(), key=lambda kv: (-kv[1][1], kv[0]))[0] if per_country else None

    return {
        "category_by_country": most_popular((p["country"], p["category"]) for p in with_cat if p["country"]),
        "category_by_year": most_popular((p["year"], p["category"]) for p in with_cat if p["year"] is not None),
        "top_user_by_country": sorted((c, poster, f, c == best_country) for c, (poster, f) in per_country.items()),
        "category_by_age_group": most_popular((p["group"], p["category"]) for p in with_cat if p["group"]),
        "median_followers_by_age_group": medians((p["group"], p["followers"]) for p in with_followers if p["group"]),
        "users_joined_by_year": sorted(Counter(y for (y,) in users if y is not None).items()),
        "median_followers_by_join_year": medians(
            (p["join_year"], p["followers"]) for p in with_followers if p["join_year"] is not None),
        "median_followers_by_join_year_and_age_group": medians(
            ((p["group"], p["join_year"]), p["followers"]) for p in with_followers
            if p["group"] and p["join_year"] is not None),
    }


# ------------------------------------------------------------------------------------- tests
def test_dbt_build_passes_and_every_dbt_test_is_a_passing_asset_check(built_marts):
    from pinterest_assets.assets.analytics import dbt_project

    dsn, result, _ = built_marts
    assert result.success
    manifest = json.loads(dbt_project().manifest_path.read_text())
    dbt_tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == dbt_tests
    assert [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed] == []
    kinds = {name.split("_")[0] for name in dbt_tests}
    assert {"unique", "not", "accepted", "relationships"} <= kinds  # not_null, accepted_values
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert set(MARTS) | {"stg_pins", "stg_geolocations", "stg_users", "stg_pin_geo_user", "analytics_report"} \
        == materialized
    with psycopg.connect(dsn) as conn:
        tables = conn.execute("select table_name from information_schema.tables where table_schema = 'analytics' "
                              "and table_type = 'BASE TABLE' order by 1").fetchall()
    assert sorted(MARTS) == [t for (t,) in tables]


def test_row_counts_and_column_schemas_are_materialization_metadata(built_marts):
    dsn, result, _ = built_marts
    events = {m.asset_key.to_user_string(): m.materialization.metadata
              for m in result.get_asset_materialization_events()}
    for mart in MARTS:
        metadata = events[mart]
        assert metadata["dagster/row_count"].value == len(mart_rows(dsn, mart)), mart
        columns = [c.name for c in metadata["dagster/column_schema"].schema.columns]
        with psycopg.connect(dsn) as conn:
            actual = conn.execute("select column_name from information_schema.columns where table_schema = "
                                  "'analytics' and table_name = %s order by ordinal_position", (mart,)).fetchall()
        assert columns == [c for (c,) in actual], mart
    assert events["category_by_country"]["dagster/row_count"].value == 3


@pytest.mark.parametrize("mart", MARTS)
def test_mart_matches_the_hand_computed_answer(built_marts, mart):
    dsn, _, _ = built_marts
    assert mart_rows(dsn, mart) == HAND[mart]


def test_marts_match_answers_computed_independently_from_the_tables(built_marts):
    dsn, _, _ = built_marts
    independent = independent_answers(dsn)
    assert independent == HAND  # the independent computation agrees with the hand as well
    for mart in MARTS:
        assert mart_rows(dsn, mart) == independent[mart], mart


def test_report_has_a_chart_and_a_table_per_question_and_plain_years(built_marts):
    _, result, path = built_marts
    html = path.read_text(encoding="utf-8")
    [report] = [m for m in result.get_asset_materialization_events()
                if m.asset_key.to_user_string() == "analytics_report"]
    assert report.materialization.metadata["path"].value == str(path)
    assert report.materialization.metadata["charts"].value == 8
    assert html.count('<svg class="chart"') == 8 and html.count("<table>") == 8
    for question in QUESTIONS:
        assert question.title in html
    assert "<td>2018</td>" in html and ">2018</text>" in html  # years plain, in tables and charts
    assert not re.search(r"2,01\d|2,02\d", html), "a year printed with a thousands separator"
    assert "7,000" in html and "230.5" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything"


def test_report_renders_in_headless_chromium_with_no_console_errors(built_marts):
    from pinterest_assets_tests.analytics.chromium import visit

    _, _, path = built_marts
    probe = """JSON.stringify([...document.querySelectorAll('figure.question')].map(f => {
        const svg = f.querySelector('svg.chart'); const box = svg.getBoundingClientRect();
        return {mart: f.dataset.mart, width: box.width, height: box.height,
                bars: [...svg.querySelectorAll('rect.bar')].map(r => r.getBoundingClientRect().width),
                rows: f.parentElement.querySelectorAll('tbody tr').length};
    }))"""
    page = visit(path.as_uri(), probe)
    assert page.loaded
    assert page.console_errors == [] and page.exceptions == []
    assert page.requests == [path.as_uri()], "the report requested something besides itself"
    charts = json.loads(page.value)
    assert [c["mart"] for c in charts] == list(MARTS)
    for chart in charts:
        expected = len(HAND[chart["mart"]])
        assert chart["width"] > 300 and chart["height"] > 20, chart
        assert len(chart["bars"]) == expected and all(w > 0 for w in chart["bars"]), chart
        assert chart["rows"] == expected, chart
