"""A small fixed dataset in pinterest.{pin,geo,user}_table of a PostgreSQL server of its own,
so the marts can be checked against answers computed by hand.

The tables are shaped as the Postgres IO manager writes them: one row per (date, key) plus the
Kafka lineage columns. Traps on purpose:

* the same key on two days (pin p11, geo/user ind 8): the higher offset wins;
* geo ind 9: the *later* day holds the *lower* offset ("Fiji"), so log order must beat the date;
* ties: Peru's top categories (art = beauty), age groups 18-24 (art = travel) and 25-35
  (travel = quotes), years 2019 and 2020, Chad's top posters (Bob = Cid, 2,000) and the overall
  top poster (Peru's Eve = Togo's Ivy, 7,000);
* years without data inside the brief's ranges (2022 for Q2; join years 2018-2020);
* an age of exactly 24/25/35/36/50/51 and 17 (no group), a NULL follower count (age group 50+ then
  has no median), even counts of values (interpolated medians 230.5, 480, 3,950, 55), a user
  without pins (ind 10), a timestamp 30 minutes before New Year (UTC year 2018).
"""

from __future__ import annotations

import psycopg
import pytest

DAY1, DAY2 = "2026-01-01", "2026-01-02"

DDL = """
create schema if not exists pinterest;
create table pinterest.pin_table (
    date date not null, ind bigint, unique_id text not null, title text, description text,
    poster_name text, follower_count bigint, tag_list text[], is_image_or_video text, image_src text,
    downloaded boolean, save_location text, category text,
    _kafka_topic text, _kafka_partition integer, _kafka_offset bigint, _kafka_timestamp timestamptz,
    _kafka_order numeric(38,0),
    primary key (date, unique_id));
create table pinterest.geo_table (
    date date not null, ind bigint not null, "timestamp" timestamptz, latitude double precision,
    longitude double precision, country text,
    _kafka_topic text, _kafka_partition integer, _kafka_offset bigint, _kafka_timestamp timestamptz,
    _kafka_order numeric(38,0),
    primary key (date, ind));
create table pinterest.user_table (
    date date not null, ind bigint not null, user_name text, age integer, date_joined timestamptz,
    _kafka_topic text, _kafka_partition integer, _kafka_offset bigint, _kafka_timestamp timestamptz,
    _kafka_order numeric(38,0),
    primary key (date, ind));
"""

# (date, offset, unique_id, ind, category, poster_name, follower_count)
PINS = [
    (DAY1, 1, "p01", 1, "art", "Ann", 100),
    (DAY1, 2, "p10", 1, "travel", "Ann", 100),
    (DAY1, 3, "p02", 2, "travel", "Bob", 2000),
    (DAY1, 4, "p12", 2, "travel", "Bob", 2000),
    (DAY1, 5, "p03", 3, "art", "Cid", 2000),
    (DAY1, 6, "p04", 4, "beauty", "Dee", 50),
    (DAY1, 40, "p11", 4, "vehicles", "Dee", 10),      # old version of p11
    (DAY2, 41, "p11", 4, "art", "Dee", 60),           # newest version of p11
    (DAY1, 7, "p05", 5, "travel", "Eve", 7000),
    (DAY1, 8, "p06", 6, "beauty", "Fay", None),
    (DAY2, 9, "p07", 7, "quotes", "Gus", 300),
    (DAY2, 10, "p08", 8, "quotes", "Hal", 900),
    (DAY2, 11, "p09", 9, "art", "Ida", 401),
    (DAY2, 12, "p13", 8, "quotes", "Ivy", 7000),      # ties Peru's Eve: two top countries
]
# (date, offset, ind, timestamp, country)
GEOS = [
    (DAY1, 1, 1, "2018-05-01 10:00:00+00", "Chad"),
    (DAY1, 2, 2, "2019-05-05 10:00:00+00", "Chad"),
    (DAY1, 3, 3, "2019-07-07 10:00:00+00", "Chad"),
    (DAY1, 4, 4, "2019-01-01 10:00:00+00", "Peru"),
    (DAY1, 5, 5, "2020-01-01 00:30:00+00", "Peru"),
    (DAY1, 6, 6, "2020-02-02 10:00:00+00", "Peru"),
    (DAY1, 7, 7, "2018-12-31 23:30:00+00", "Togo"),
    (DAY1, 10, 8, "2017-06-01 10:00:00+00", "Mali"),   # old
    (DAY2, 20, 8, "2021-03-03 10:00:00+00", "Togo"),   # newest
    (DAY1, 30, 9, "2018-04-04 10:00:00+00", "Peru"),   # newest: higher offset, earlier day
    (DAY2, 5, 9, "2022-01-01 10:00:00+00", "Fiji"),    # later day, lower offset: not newest
]
# (date, offset, ind, age, date_joined)
USERS = [
    (DAY1, 1, 1, 24, "2015-03-01 00:00:00+00"),
    (DAY1, 2, 2, 25, "2016-03-01 00:00:00+00"),
    (DAY1, 3, 3, 35, "2016-04-01 00:00:00+00"),
    (DAY1, 4, 4, 36, "2017-03-01 00:00:00+00"),
    (DAY1, 5, 5, 50, "2015-06-01 00:00:00+00"),
    (DAY1, 6, 6, 51, "2017-07-01 00:00:00+00"),
    (DAY1, 7, 7, 17, "2016-08-01 00:00:00+00"),
    (DAY1, 10, 8, 60, "2015-09-01 00:00:00+00"),       # old
    (DAY2, 20, 8, 30, "2017-09-01 00:00:00+00"),       # newest
    (DAY1, 9, 9, 45, "2016-10-01 00:00:00+00"),
    (DAY1, 11, 10, 40, "2015-11-01 00:00:00+00"),      # a user without pins
]


def load_fixed_dataset(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(DDL)
        for date, offset, uid, ind, category, poster, followers in PINS:
            conn.execute(
                "insert into pinterest.pin_table (date, ind, unique_id, title, poster_name, follower_count,"
                " tag_list, is_image_or_video, downloaded, save_location, category, _kafka_topic,"
                " _kafka_partition, _kafka_offset, _kafka_timestamp)"
                " values (%s, %s, %s, %s, %s, %s, %s, 'image', true, %s, %s, 'pinterest.pin', 0, %s, %s)",
                (date, ind, uid, f"Pin {uid}", poster, followers, ["a", "b"], f"/data/{category}", category,
                 offset, f"{date} 12:00:00+00"))
        for date, offset, ind, ts, country in GEOS:
            conn.execute(
                "insert into pinterest.geo_table values (%s, %s, %s, 1.5, 2.5, %s, 'pinterest.geo', 0, %s, %s)",
                (date, ind, ts, country, offset, f"{date} 12:00:00+00"))
        for date, offset, ind, age, joined in USERS:
            conn.execute(
                "insert into pinterest.user_table values (%s, %s, %s, %s, %s, 'pinterest.user', 0, %s, %s)",
                (date, ind, f"User {ind}", age, joined, offset, f"{date} 12:00:00+00"))
        for table in ("pin_table", "geo_table", "user_table"):  # the order rule's value, epoch 0
            conn.execute(f"update pinterest.{table} set _kafka_order = _kafka_partition * 1e19 + _kafka_offset")


@pytest.fixture(scope="session")
def analytics_db(stack_env):
    """A PostgreSQL server of its own (its database is `pinterest`, as in production: dbt's
    manifest names relations by database) holding the fixed dataset; yields its DSN."""
    import shutil
    import tempfile
    from pathlib import Path

    from pinterest_assets.settings import Settings
    from pinterest_assets_tests.conftest import free_port
    from pinterest_platform.stack import postgres

    home = Path(tempfile.mkdtemp(prefix="pinterest-test-analytics-"))
    home.chmod(0o755)  # PostgreSQL runs as another user when we are root
    settings = Settings(home=home, pg_port=free_port())
    postgres.start(settings)
    try:
        load_fixed_dataset(settings.postgres_dsn)
        yield settings.postgres_dsn
    finally:
        postgres.stop(settings)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def built_marts(analytics_db, tmp_path_factory):
    """`dbt build` of the analytics assets (models + tests as asset checks) and the HTML report,
    through Dagster, on the fixed dataset. Yields (dsn, ExecuteInProcessResult, report path)."""
    import dagster as dg
    from dagster_dbt import DbtCliResource

    from pinterest_assets.assets.analytics import analytics_report, build_dbt_assets, dbt_executable, dbt_project
    from pinterest_assets.resources.postgres import PostgresResource

    report = tmp_path_factory.mktemp("report") / "analysis.html"
    result = dg.materialize(
        [build_dbt_assets(), analytics_report],
        resources={"dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable()),
                   "postgres": PostgresResource(dsn=analytics_db)},
        run_config={"ops": {"analytics_report": {"config": {"path": str(report)}}}},
        raise_on_error=False,
    )
    yield analytics_db, result, report
