"""Small pure pieces of the analysis layer: number formatting, the DSN handed to dbt, the manifest."""

from __future__ import annotations

import os

from pinterest_assets.assets.analytics import dbt_environment, dbt_project, dbt_variables, manifest_is_stale
from pinterest_assets.report import PARTS, QUESTIONS, Answer, render_html, years_covered
from pinterest_assets.report_charts import chart_number, format_value, wrap


def test_years_print_without_separators_and_counts_with_them():
    assert format_value("year", 2017) == "2017"
    assert format_value("join_year", 2015) == "2015"
    assert format_value("users_joined", 2017) == "2,017"
    assert format_value("median_follower_count", 230.5) == "230.5"
    assert format_value("median_follower_count", 2000.0) == "2,000"
    assert format_value("is_top_country", True) == "yes" and format_value("country", None) == ""


def test_the_page_has_every_chart_even_with_empty_marts_and_escapes_text():
    answers = [Answer(q, p, ["country", "category", "category_count", "tied_categories"], [])
               for q in QUESTIONS for p in q.parts]
    answers[0] = Answer(QUESTIONS[0], QUESTIONS[0].parts[0], answers[0].columns, [("<b>Côte</b>", "art", 3, 1)])
    page = render_html(answers)
    assert page.count('<svg class="chart"') == sum(1 for p in PARTS if p.chart) == 9
    assert page.count("no rows yet") == 2 * (len(PARTS) - 1) - 1  # every chart and table but Q1's
    assert "&lt;b&gt;Côte&lt;/b&gt;" in page and "<b>Côte" not in page


def test_years_covered_names_the_years_with_data_and_the_empty_ones():
    q6 = QUESTIONS[5]
    rows = [(2015, 3), (2016, 0), (2017, 2), (2018, 0), (2019, 0), (2020, 0)]
    assert years_covered(Answer(q6, q6.parts[0], ["join_year", "users_joined"], rows)) == \
        "The data cover 2015, 2017 of 2015-2020; 2016, 2018-2020: none (zero or empty rows)."
    assert years_covered(Answer(q6, q6.parts[0], ["join_year", "users_joined"], [])) == "No data in 2015-2020 yet."


def test_chart_labels_wrap_to_the_width_and_big_numbers_are_compact():
    assert wrap("South Georgia and the South Sandwich Islands", 120) == \
        ["South Georgia", "and the South", "Sandwich Islands"]
    assert all(len(line) * 0.62 * 12 <= 120 for line in wrap("x" * 50, 120))
    assert chart_number("follower_count", 9_000_000) == "9M" and chart_number("posts", 258_500.0) == "258,500"


def test_dbt_gets_libpq_variables_parsed_by_libpq_and_the_environment_is_restored(monkeypatch):
    assert dbt_variables("postgresql://u:p%40ss@h:5433/db?sslmode=verify-full&sslrootcert=/x/ca.pem") == {
        "PGHOST": "h", "PGPORT": "5433", "PGUSER": "u", "PGPASSWORD": "p@ss", "PGDATABASE": "db",
        "PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/x/ca.pem"}
    assert dbt_variables("host=db.example port=6543 user=alice dbname=warehouse") == {
        "PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "alice", "PGDATABASE": "warehouse"}
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGSSLMODE", "disable")  # the shell's own: not mixed into the resource's
    with dbt_environment("host=h user=u password=secret dbname=d"):
        assert os.environ["PGHOST"] == "h" and os.environ["PGPASSWORD"] == "secret"
        assert "PGSSLMODE" not in os.environ
    assert "PGPASSWORD" not in os.environ and "PGHOST" not in os.environ
    assert os.environ["PGSSLMODE"] == "disable"


def test_the_manifest_exists_and_is_reparsed_for_another_database():
    project = dbt_project()  # parsed at load if missing: no database needed
    assert project.manifest_path.exists()
    assert not manifest_is_stale(project, "pinterest")
    assert manifest_is_stale(project, "some_other_database")


def test_a_password_kept_out_of_the_dsn_reaches_dbt_as_pgpassword(monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with dbt_environment("postgresql://u@h:5432/d", password="from-envvar"):
        assert os.environ["PGHOST"] == "h" and os.environ["PGPASSWORD"] == "from-envvar"
    assert "PGPASSWORD" not in os.environ
