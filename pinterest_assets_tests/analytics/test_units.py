"""Small pure pieces of the analysis layer: number formatting, the DSN handed to dbt, the manifest."""

from __future__ import annotations

import os

from pinterest_assets.assets.analytics import dbt_dsn, dbt_environment, dbt_project, manifest_is_stale
from pinterest_assets.report import QUESTIONS, Answer, format_value, render_html


def test_years_print_without_separators_and_counts_with_them():
    assert format_value("year", 2017) == "2017"
    assert format_value("join_year", 2015) == "2015"
    assert format_value("users_joined", 2017) == "2,017"
    assert format_value("median_follower_count", 230.5) == "230.5"
    assert format_value("median_follower_count", 2000.0) == "2,000"
    assert format_value("is_top_country", True) == "yes" and format_value("country", None) == ""


def test_the_page_has_eight_charts_even_with_empty_marts_and_escapes_text():
    answers = [Answer(q, ["country", "category", "category_count"], []) for q in QUESTIONS]
    answers[0] = Answer(QUESTIONS[0], ["country", "category", "category_count"], [("<b>Côte</b>", "art", 3)])
    page = render_html(answers)
    assert page.count('<svg class="chart"') == 8 and page.count("no rows yet") == 14  # 7 charts + 7 tables
    assert "&lt;b&gt;Côte&lt;/b&gt;" in page and "<b>Côte" not in page


def test_dbt_gets_a_url_dsn_and_the_environment_is_restored(monkeypatch):
    assert dbt_dsn("postgresql://u:p@h:5433/db") == "postgresql://u:p@h:5433/db"
    assert dbt_dsn("host=db.example port=6543 user=alice dbname=warehouse") == \
        "postgresql://alice@db.example:6543/warehouse"
    monkeypatch.delenv("PINTEREST_PG_DSN", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with dbt_environment("host=h user=u password=secret dbname=d"):
        assert os.environ["PINTEREST_PG_DSN"] == "postgresql://u@h:5432/d"
        assert os.environ["PGPASSWORD"] == "secret"
    assert "PINTEREST_PG_DSN" not in os.environ and "PGPASSWORD" not in os.environ


def test_the_manifest_exists_and_is_reparsed_for_another_database():
    project = dbt_project()  # parsed at load if missing: no database needed
    assert project.manifest_path.exists()
    assert not manifest_is_stale(project, "pinterest")
    assert manifest_is_stale(project, "some_other_database")


def test_a_password_kept_out_of_the_dsn_reaches_dbt_as_pgpassword(monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with dbt_environment("postgresql://u@h:5432/d", password="from-envvar"):
        assert os.environ["PINTEREST_PG_DSN"] == "postgresql://u@h:5432/d"
        assert os.environ["PGPASSWORD"] == "from-envvar"
    assert "PGPASSWORD" not in os.environ
