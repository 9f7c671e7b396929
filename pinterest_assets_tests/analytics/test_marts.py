"""The analysis layer on the fixed dataset of conftest.py: `dbt build` through Dagster (the dbt
tests as asset checks, row counts and column schemas as metadata), every mart against
answers computed by hand and by independent SQL, and the HTML report in headless Chromium."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict

import psycopg
import pytest

from pinterest_assets.report import MARTS, PARTS, QUESTIONS

# dbt build (or the webserver) in the setup: slow on a loaded 2-core machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

# ----------------------------------------------------------------- answers computed by hand
# Ties on purpose (conftest.py): every tied row is in the mart, with how many share the top.
NO_PINS = (None, False, 0)  # median, is_interpolated, pins of a group without pins
Q8_WITH_PINS = {("18-24", 2015): (100.0, False, 2), ("25-35", 2016): (2000.0, False, 3),
                ("25-35", 2017): (3950.0, True, 2), ("36-50", 2015): (7000.0, False, 1),
                ("36-50", 2016): (401.0, False, 1), ("36-50", 2017): (55.0, True, 2)}
POSTS = {2018: {"art": 2, "quotes": 1, "travel": 1}, 2019: {"art": 2, "beauty": 1, "travel": 2},
         2020: {"beauty": 1, "travel": 1}, 2021: {"quotes": 2}, 2022: {}}
HAND = {
    "category_by_country": [("Chad", "travel", 3, 1), ("Peru", "art", 2, 2), ("Peru", "beauty", 2, 2),
                            ("Togo", "quotes", 3, 1)],
    "posts_by_category_and_year": [(y, c, POSTS[y].get(c, 0)) for y in range(2018, 2023)
                                   for c in ("art", "beauty", "quotes", "travel")],
    "category_by_year": [(2018, "art", 2, 1), (2019, "art", 2, 2), (2019, "travel", 2, 2), (2020, "beauty", 1, 2),
                         (2020, "travel", 1, 2), (2021, "quotes", 2, 1), (2022, None, 0, 0)],
    "top_user_by_country": [("Chad", "Bob", 2000, 2, False), ("Chad", "Cid", 2000, 2, False),
                            ("Peru", "Eve", 7000, 1, True), ("Togo", "Ivy", 7000, 1, True)],
    "top_country_overall": [("Peru", "Eve", 7000, 2), ("Togo", "Ivy", 7000, 2)],
    "category_by_age_group": [("18-24", "art", 1, 2), ("18-24", "travel", 1, 2), ("25-35", "quotes", 2, 2),
                              ("25-35", "travel", 2, 2), ("36-50", "art", 2, 1), ("50+", "beauty", 1, 1)],
    "median_followers_by_age_group": [("18-24", 100.0, False, 2), ("25-35", 2000.0, False, 5),
                                      ("36-50", 230.5, True, 4), ("50+", *NO_PINS)],
    "users_joined_by_year": [(2015, 3), (2016, 4), (2017, 3), (2018, 0), (2019, 0), (2020, 0)],
    "median_followers_by_join_year": [(2015, 100.0, False, 3), (2016, 2000.0, False, 5), (2017, 480.0, True, 4),
                                      (2018, *NO_PINS), (2019, *NO_PINS), (2020, *NO_PINS)],
    "median_followers_by_join_year_and_age_group": [
        (g, y, *Q8_WITH_PINS.get((g, y), NO_PINS)) for g in ("18-24", "25-35", "36-50", "50+")
        for y in range(2015, 2021)],
}

# Natural order of each mart's rows for comparison (the first columns are its key).
KEY_ORDER = {
    "category_by_country": "country, category", "posts_by_category_and_year": "year, category",
    "category_by_year": "year, category", "top_user_by_country": "country, poster_name",
    "top_country_overall": "country, poster_name", "category_by_age_group": "age_group, category",
    "median_followers_by_age_group": "age_group", "users_joined_by_year": "join_year",
    "median_followers_by_join_year": "join_year",
    "median_followers_by_join_year_and_age_group": "age_group, join_year",
}
AGE_GROUPS = ("18-24", "25-35", "36-50", "50+")
Q2_YEARS, JOIN_YEARS = range(2018, 2023), range(2015, 2021)


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


def most_popular(counts: dict, domain=None) -> list[tuple]:
    """{(group, category): n} -> [(group, category, n, how many tie)] for every category with the
    group's highest count; a group of `domain` without any is (group, None, 0, 0)."""
    best = defaultdict(list)
    for (group, category), n in counts.items():
        if n > 0:
            best[group].append((n, category))
    rows = []
    for group in sorted(set(best) | set(domain or ())):
        top = max((n for n, _ in best[group]), default=0)
        tied = sorted(c for n, c in best[group] if n == top)
        rows += [(group, c, top, len(tied)) for c in tied] or [(group, None, 0, 0)]
    return rows


def medians(pairs, domain) -> list[tuple]:
    """[(group, followers)] -> [(*group, median, interpolated (no pin has it), pins)] over `domain`."""
    values = defaultdict(list)
    for group, followers in pairs:
        values[group].append(followers)
    rows = []
    for g in domain:
        v = values.get(g, [])
        median = float(statistics.median(v)) if v else None
        rows.append((*(g if isinstance(g, tuple) else (g,)), median, bool(v) and median not in v, len(v)))
    return sorted(rows)


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
    country_top = {c: max(f for (c2, _), f in top_poster.items() if c2 == c) for c, _ in top_poster}
    highest = max(country_top.values(), default=None)
    top_users = sorted((c, poster, f, sum(1 for (c2, _), f2 in top_poster.items() if c2 == c and f2 == f),
                        f == highest) for (c, poster), f in top_poster.items() if f == country_top[c])
    top_countries = {c for c, *_ , is_top in top_users if is_top}

    posts = Counter((p["year"], p["category"]) for p in with_cat if p["year"] in Q2_YEARS)
    categories = sorted({p["category"] for p in with_cat})
    join_years = Counter(y for (y,) in users if y in JOIN_YEARS)
    return {
        "category_by_country": most_popular(Counter((p["country"], p["category"]) for p in with_cat if p["country"])),
        "posts_by_category_and_year": [(y, c, posts[(y, c)]) for y in Q2_YEARS for c in categories],
        "category_by_year": most_popular(posts, Q2_YEARS),
        "top_user_by_country": top_users,
        "top_country_overall": [(c, poster, f, len(top_countries)) for c, poster, f, _, is_top in top_users
                                if is_top],
        "category_by_age_group": most_popular(
            Counter((p["group"], p["category"]) for p in with_cat if p["group"]), AGE_GROUPS),
        "median_followers_by_age_group": medians(
            ((p["group"], p["followers"]) for p in with_followers if p["group"]), AGE_GROUPS),
        "users_joined_by_year": [(y, join_years[y]) for y in JOIN_YEARS],
        "median_followers_by_join_year": medians(
            ((p["join_year"], p["followers"]) for p in with_followers if p["join_year"] is not None), JOIN_YEARS),
        "median_followers_by_join_year_and_age_group": medians(
            (((p["group"], p["join_year"]), p["followers"]) for p in with_followers
             if p["group"] and p["join_year"] is not None), [(g, y) for g in AGE_GROUPS for y in JOIN_YEARS]),
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
    # the singular tests: ties are rows, Q3's two parts agree (not the old one-flagged-country pick)
    assert "top_country_overall_lists_every_tied_top_country" in dbt_tests
    assert len([t for t in dbt_tests if t.startswith("ties_are_rows_")]) == 4  # Q1, Q2, Q3, Q4
    assert "top_user_by_country_has_one_top_country" not in dbt_tests
    kinds = {name.split("_")[0] for name in dbt_tests}
    assert {"unique", "not", "accepted", "relationships", "ties"} <= kinds  # not_null, accepted_values
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
    assert events["category_by_country"]["dagster/row_count"].value == 4


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


def test_report_explains_each_question_offers_csv_and_sql_and_no_connection_details(built_marts):
    import csv
    import urllib.parse

    dsn, result, path = built_marts
    html = path.read_text(encoding="utf-8")
    [report] = [m for m in result.get_asset_materialization_events()
                if m.asset_key.to_user_string() == "analytics_report"]
    assert report.materialization.metadata["path"].value == str(path)
    assert report.materialization.metadata["questions"].value == 8
    charted = [p for p in PARTS if p.chart]
    assert report.materialization.metadata["charts"].value == len(charted) == 9
    assert html.count('<svg class="chart"') == 9 and html.count('<table class="sortable">') == len(MARTS)
    for question in QUESTIONS:
        assert f"{question.number}. {html_escape(question.title)}" in html
    assert html.count("Ties are shown, never broken") == 4  # Q1, Q2, Q3, Q4
    assert html.count("percentile_cont(0.5)</code>: continuous, over the pins") == 3  # Q5, Q7, Q8
    assert "Eve (Peru) and Ivy (Togo) tie for the most followers of all (7,000), so 2 countries" in html
    assert "age 50 included" in html and "230.5 *" in html and "3,950*" in html
    assert "The data cover 2018-2021 of 2018-2022; 2022: none" in html
    assert html.count("The data cover 2015-2017 of 2015-2020; 2018-2020: none") == 3  # Q6, Q7, Q8
    assert "<td data-v=\"2018\">2018</td>" in html and ">2018</text>" in html  # years plain
    assert not re.search(r"2,01\d|2,02\d", html), "a year printed with a thousands separator"
    # no connection details: no DSN, host or port of the database
    host_port = dsn.split("@", 1)[1].split("/", 1)[0]
    assert "postgresql://" not in html and host_port not in html and "127.0.0.1" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything"
    # a CSV per mart (data: URL) holding exactly the mart's rows; the SQL behind each answer
    links = dict(re.findall(r'<a download="([a-z_]+)\.csv" href="data:text/csv;charset=utf-8,([^"]*)"', html))
    assert sorted(links) == sorted(MARTS)
    for mart, quoted in links.items():
        header, *rows = list(csv.reader(urllib.parse.unquote(quoted).splitlines()))
        expected = {tuple("" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in r)
                    for r in mart_rows(dsn, mart)}
        assert {tuple(r) for r in rows} == expected and len(rows) == len(expected), mart
    assert html.count("<details><summary>SQL behind this answer") == len(MARTS)
    assert html.count("percentile_cont(0.5) within group") >= 3 and "rank() over" in html


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def expected_marks(part, records: list[dict]) -> dict[str, float | None]:
    """What each chart must draw, from its mart's rows: {data-key: number}."""
    from pinterest_assets.report import format_value

    def key(r):
        return " · ".join(format_value(c, r[c]) for c in part.key)

    def num(v):
        return None if v is None else float(v)

    if part.chart == "winners":
        marks = {}
        for r in records:
            marks.setdefault(f"{r['category']}/alone", 0.0)
            marks.setdefault(f"{r['category']}/tied", 0.0)
            marks[f"{r['category']}/{'alone' if r['tied_categories'] == 1 else 'tied'}"] += 1
        return marks
    if part.chart == "heatmap":
        return {f"{format_value(part.key[0], r[part.key[0]])}/{r[part.key[1]]}": num(r[part.value]) for r in records}
    marks = {}
    for r in records:
        marks.setdefault(key(r), num(r[part.value]))
    return dict(list(marks.items())[: part.chart_rows]) if part.chart == "hbar" else marks


PROBE = """JSON.stringify((() => {
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
               overflows: [], charts: [], sorted: []};
  document.querySelectorAll('svg.chart').forEach(svg => {
    const vb = svg.viewBox.baseVal;
    svg.querySelectorAll('text').forEach(t => {
      const b = t.getBBox();
      if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5)
        out.overflows.push({svgText: t.textContent, box: [b.x, b.y, b.width, b.height], viewBox: [vb.width, vb.height]});
    });
  });
  document.querySelectorAll('body *').forEach(el => {
    if (el.parentElement.closest('svg') || ['SCRIPT', 'STYLE'].includes(el.tagName)) return;
    const r = el.getBoundingClientRect(), p = el.parentElement.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return;
    if (r.left < p.left - 1 || r.right > p.right + 1 || (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1))
      out.overflows.push({element: el.tagName + '.' + el.className, text: (el.textContent || '').slice(0, 60),
                          box: [r.left, r.right], parent: [p.left, p.right], scroll: [el.scrollWidth, el.clientWidth]});
  });
  document.querySelectorAll('figure.question').forEach(f => out.charts.push({
    mart: f.dataset.mart, width: f.querySelector('svg').getBoundingClientRect().width,
    marks: [...f.querySelectorAll('[data-key]')].map(e => ({key: e.dataset.key, value: e.dataset.value,
      cls: e.getAttribute('class'), w: +e.getAttribute('width'), h: +e.getAttribute('height')}))}));
  const table = document.querySelector('.part[data-mart=users_joined_by_year] table');
  const th = table.querySelectorAll('th')[1];
  th.click(); out.sorted.push(table.tBodies[0].rows[0].cells[0].textContent);
  th.click(); out.sorted.push(table.tBodies[0].rows[0].cells[0].textContent);
  return out;
})())"""


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_report_in_chromium_fits_its_boxes_and_charts_the_marts_numbers(built_marts, width):
    from pinterest_assets_tests.analytics.chromium import visit

    dsn, _, path = built_marts
    page = visit(path.as_uri(), PROBE, width=width)
    assert page.loaded
    assert page.console_errors == [] and page.exceptions == []
    assert page.requests == [path.as_uri()], "the report requested something besides itself"
    seen = json.loads(page.value)
    assert seen["innerWidth"] == width and seen["scrollWidth"] <= width, seen["scrollWidth"]
    assert seen["overflows"] == []
    charts = {c["mart"]: c for c in seen["charts"]}
    assert list(charts) == [p.mart for p in PARTS if p.chart]
    for part in PARTS:
        if not part.chart:
            continue
        chart = charts[part.mart]
        assert chart["width"] > min(300, width - 60), chart
        with psycopg.connect(dsn) as conn:
            cursor = conn.execute(part.sql())
            records = [dict(zip([c.name for c in cursor.description], r)) for r in cursor.fetchall()]
        drawn = {m["key"]: (float(m["value"]) if m["value"] != "" else None) for m in chart["marks"]}
        assert drawn == expected_marks(part, records), part.mart
        bars = [m for m in chart["marks"] if "bar" in m["cls"].split() and m["value"] not in ("", "0", "0.0")]
        if part.chart == "heatmap":
            continue
        sizes = [(m["w"] if part.chart in ("hbar", "winners") else m["h"]) / float(m["value"]) for m in bars]
        assert sizes and max(sizes) - min(sizes) < 0.02 * max(sizes), (part.mart, sizes)  # length ∝ value
    assert seen["sorted"] == ["2018", "2016"]  # users_joined ascending (0 first), then descending
