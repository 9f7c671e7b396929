"""`pinterest report` as a user runs it: a page and the answers from the marts, or one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pinterest_assets_tests.conftest import free_port

# dbt build (or the webserver) in the setup: slow on a loaded 2-core machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def pinterest(*args: str, dsn: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PINTEREST_PG_DSN": dsn}
    return subprocess.run([sys.executable, "-m", "pinterest_platform.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_report_writes_the_page_and_prints_all_eight_answers(built_marts, tmp_path):
    dsn, _, _ = built_marts
    out = tmp_path / "nested" / "report.html"
    done = pinterest("report", "--output", str(out), "--print", dsn=dsn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"report: {out}" in done.stdout
    page = out.read_text(encoding="utf-8")
    assert page.count('<svg class="chart"') == 9 and page.count('<table class="sortable">') == 10
    for n, title in enumerate(["Most popular category per country", "Posts per category per year",
                               "The user with the most followers per country", "Most popular category per age group",
                               "Median follower count per age group", "Users joined per year",
                               "Median follower count by join year", "Median follower count by join year and age group"],
                              start=1):
        assert f"{n}. {title}" in done.stdout, title
    assert "2018" in done.stdout and "2,018" not in done.stdout and "2,015" not in done.stdout
    assert "230.5" in done.stdout and "7,000" in done.stdout


def test_one_question_as_csv_json_and_a_table_with_all_rows(built_marts):
    import csv
    import json

    dsn, _, _ = built_marts
    done = pinterest("report", "--question", "3", "--format", "csv", dsn=dsn)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("\n\n")
    assert first.startswith("# analytics.top_user_by_country\n") and second.startswith("# analytics.top_country_overall\n")
    assert list(csv.reader(second.splitlines()[1:])) == [
        ["country", "poster_name", "follower_count", "tied_countries"], ["Peru", "Eve", "7000", "2"],
        ["Togo", "Ivy", "7000", "2"]]

    done = pinterest("report", "-q", "2", "--format", "json", dsn=dsn)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["question"] == 2
    [posts, top] = answer["marts"]
    assert posts["mart"] == "analytics.posts_by_category_and_year" and len(posts["rows"]) == 20
    assert {r["year"] for r in posts["rows"]} == {2018, 2019, 2020, 2021, 2022}
    assert {"year": 2022, "category": None, "category_count": 0, "tied_categories": 0} in top["rows"]

    cut = pinterest("report", "--question", "8", dsn=dsn)
    whole = pinterest("report", "--question", "8", "--all-rows", dsn=dsn)
    assert cut.returncode == whole.returncode == 0, cut.stderr + whole.stderr
    assert "20 of 24 rows" in cut.stdout and "of 24 rows" not in whole.stdout
    assert "3,950" in whole.stdout and "2015-2017 of 2015-2020" in whole.stdout
    assert whole.stdout.count("│ 50+") == 6


def test_bad_report_options_say_so_in_one_line(built_marts):
    dsn, _, _ = built_marts
    for args, message in [(("--question", "9"), "9 is not in the range"),
                          (("--format", "csv"), "--format needs --question"),
                          (("--question", "1", "--format", "xml"), "'xml' is not one of")]:
        done = pinterest("report", *args, dsn=dsn)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert message in done.stderr.strip().splitlines()[-1], done.stderr


def test_report_before_the_marts_exist_says_what_to_do_in_one_line(analytics_db, tmp_path):
    empty = analytics_db.rsplit("/", 1)[0] + "/postgres"  # same server, no analytics schema
    done = pinterest("report", "--output", str(tmp_path / "r.html"), dsn=empty)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "analytics.category_by_country does not exist yet" in line and "materialize" in line
    assert not (tmp_path / "r.html").exists()


def test_report_without_a_database_says_so_in_one_line(tmp_path):
    done = pinterest("report", "--output", str(tmp_path / "r.html"),
                     dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/pinterest")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "cannot connect to PostgreSQL" in line and "PINTEREST_PG_DSN" in line
