"""The report page with hostile data (Faker's longest country names, a 13-way tie, 9-digit counts,
many rows) in headless Chromium at desktop and phone widths: nothing overflows its box."""

from __future__ import annotations

import json

import pytest

from pinterest_assets.report import PARTS, QUESTIONS, Answer, render_html
from pinterest_assets_tests.analytics.test_marts import PROBE

CATEGORIES = ["christmas", "tattoos", "quotes", "art", "education", "home-decor", "travel", "mens-fashion",
              "vehicles", "diy-and-crafts", "finance", "event-planning", "beauty"]
LONG = ["South Georgia and the South Sandwich Islands", "Holy See (Vatican City State)",
        "Heard Island and McDonald Islands", "United States Minor Outlying Islands", "Bouvet Island (Bouvetoya)"]
AGE_GROUPS = ["18-24", "25-35", "36-50", "50+"]


def hostile_rows(mart: str) -> tuple[list[str], list[tuple]]:
    countries = LONG + [f"Country {i}" for i in range(30)]
    if mart == "category_by_country":
        return (["country", "category", "category_count", "tied_categories"],
                [(LONG[0], c, 9, 13) for c in CATEGORIES] + [(c, "art", 5, 1) for c in countries[1:]])
    if mart == "posts_by_category_and_year":
        return ["year", "category", "posts"], [(y, c, 123_456 * (y - 2017)) for y in range(2018, 2023) for c in CATEGORIES]
    if mart in ("category_by_year", "category_by_age_group"):
        key = "year" if mart == "category_by_year" else "age_group"
        keys = range(2018, 2023) if key == "year" else AGE_GROUPS
        return [key, "category", "category_count", "tied_categories"], [(k, c, 987_654, 13) for k in keys for c in CATEGORIES]
    if mart == "top_user_by_country":
        return (["country", "poster_name", "follower_count", "tied_posters", "is_top_country"],
                [(c, f"Maximilian Alexander Worthington-Smythe {i}", 987_654_321 - i, 1, i == 0)
                 for i, c in enumerate(countries)])
    if mart == "top_country_overall":
        return ["country", "poster_name", "follower_count", "tied_countries"], [(LONG[0], "Max", 987_654_321, 1)]
    if mart == "users_joined_by_year":
        return ["join_year", "users_joined"], [(y, 123_456_789) for y in range(2015, 2021)]
    if mart == "median_followers_by_age_group":
        return (["age_group", "median_follower_count", "is_interpolated", "pins"],
                [(g, 123_456_789.5, True, 99_999) for g in AGE_GROUPS])
    if mart == "median_followers_by_join_year":
        return (["join_year", "median_follower_count", "is_interpolated", "pins"],
                [(y, 123_456_789.5, True, 99_999) for y in range(2015, 2021)])
    return (["age_group", "join_year", "median_follower_count", "is_interpolated", "pins"],
            [(g, y, 123_456_789.5, True, 99_999) for g in AGE_GROUPS for y in range(2015, 2021)])


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_hostile_answers_never_overflow_at_desktop_or_phone_width(tmp_path, width):
    from pinterest_assets_tests.analytics.chromium import visit

    questions = {q.number: q for q in QUESTIONS}
    answers = [Answer(q, p, *hostile_rows(p.mart)) for q in questions.values() for p in q.parts]
    assert {a.part for a in answers} == set(PARTS)
    path = tmp_path / "hostile.html"
    path.write_text(render_html(answers), encoding="utf-8")
    page = visit(path.as_uri(), PROBE, width=width)
    assert page.console_errors == [] and page.exceptions == []
    seen = json.loads(page.value)
    assert seen["scrollWidth"] <= width
    assert seen["overflows"] == []
