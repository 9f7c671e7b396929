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
    assert page.count('<svg class="chart"') == 8 and page.count("<table>") == 8
    for n, title in enumerate(["Most popular category per country", "Most popular category per year",
                               "Top poster per country", "Most popular category per age group",
                               "Median follower count per age group", "Users joined per year",
                               "Median follower count per join year", "Median follower count per join year and age group"],
                              start=1):
        assert f"{n}. {title}" in done.stdout, title
    assert "2018" in done.stdout and "2,018" not in done.stdout and "2,015" not in done.stdout
    assert "230.5" in done.stdout and "7,000" in done.stdout


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
