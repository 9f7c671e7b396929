"""`pinterest demo` (`make demo`): the pipeline end to end on the local stack, then the proof.

1. start the stack (Kafka, Postgres) and the ingestion API;
2. post N events with the emulator (pin, geo and user record of each sampled `ind`);
3. drive the asset graph the way production does, on the Dagster instance of `dagster.yaml`
   (runs recorded in Postgres, visible later in the UI): the Kafka sensor's run request ->
   `ingest_job` (raw landing + pin_stream), then `daily_batch_job` for every day that landed;
4. print the reconciliation (lost and duplicated must be 0), quarantine counts and three
   analysis answers straight from Postgres; stop what it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

# wide enough for the tables when output goes to a file or CI log
console = Console(width=None if sys.stdout.isatty() else 140)
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

ANALYSIS = {
    "Most popular category per year (geo timestamp)": """
        with pins as (select distinct on (ind) ind, category from pinterest.pin_table
                      where category is not null order by ind, date desc),
             geos as (select distinct on (ind) ind, extract(year from "timestamp")::int as year
                      from pinterest.geo_table where "timestamp" is not null order by ind, date desc),
             counted as (select g.year, p.category, count(*) as pins
                         from pins p join geos g using (ind) group by g.year, p.category)
        select distinct on (year) year, category, pins from counted order by year, pins desc, category""",
    "Median follower count per age group": """
        with pins as (select distinct on (ind) ind, follower_count from pinterest.pin_table
                      where follower_count is not null order by ind, date desc),
             users as (select distinct on (ind) ind, age from pinterest.user_table
                       where age is not null order by ind, date desc)
        select case when u.age < 25 then '18-24' when u.age < 36 then '25-35'
                    when u.age < 51 then '36-50' else '50+' end as age_group,
               percentile_cont(0.5) within group (order by p.follower_count)::bigint as median_followers,
               count(*) as users
        from pins p join users u using (ind) group by 1 order by 1""",
    "Top poster per country (by followers), first 10 countries": """
        with pins as (select distinct on (ind) ind, poster_name, follower_count from pinterest.pin_table
                      where poster_name is not null order by ind, date desc),
             geos as (select distinct on (ind) ind, country from pinterest.geo_table
                      where country is not null order by ind, date desc)
        select distinct on (g.country) g.country, p.poster_name, p.follower_count
        from pins p join geos g using (ind)
        order by g.country, p.follower_count desc nulls last, p.poster_name limit 10""",
}


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the API exited during start-up; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise click.ClickException(f"the API did not answer {url} within {timeout:.0f}s; see {log}")


def start_api(settings, home: Path) -> subprocess.Popen:
    from pinterest_assets.stack import common

    common.ensure_port_free(settings.bind_host, settings.api_port, "the ingestion API", "PINTEREST_API_PORT")
    log = home / "logs" / "api.log"
    proc = common.spawn([sys.executable, "-m", "pinterest_assets.cli", "api", "--port", str(settings.api_port)],
                        log, env=os.environ.copy())
    _wait_http(f"http://{settings.bind_host}:{settings.api_port}/healthz", 60, proc, log)
    return proc


def drive_asset_graph(instance, say) -> dict:
    """Sensor -> ingest_job, then daily_batch_job for each landed day. Returns what ran."""
    import dagster as dg

    from pinterest_assets.assets.raw import landed_files
    from pinterest_assets.definitions import build_resources, defs
    from pinterest_assets.settings import ENTITIES

    definitions = defs()
    resources = build_resources()
    sensor = definitions.resolve_sensor_def("kafka_new_events_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=None, resources={"kafka": resources["kafka"]})
    result = sensor(context)
    requests = result.run_requests or []
    ran = {"ingest_runs": [], "daily_runs": {}}
    ingest_job = definitions.resolve_job_def("ingest_job")
    for request in requests:
        say(f"sensor requested ingest_job (run key {request.run_key}): landing raw events + pin_stream")
        run = ingest_job.execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG,
            tags={**request.tags, "dagster/run_key": request.run_key, "dagster/sensor_name": sensor.name})
        if not run.success:
            raise click.ClickException(f"ingest_job run {run.run_id} failed")
        ran["ingest_runs"].append(run.run_id)
    dates = sorted({f.date for entity in ENTITIES for f in landed_files(resources["lake"], entity)})
    daily = definitions.resolve_job_def("daily_batch_job")
    for date in dates:
        say(f"daily_batch_job for partition {date}: cleaned_* Parquet + Postgres tables")
        run = daily.execute_in_process(instance=instance, partition_key=date, run_config=QUIET_RUN_CONFIG)
        if not run.success:
            raise click.ClickException(f"daily_batch_job run {run.run_id} for {date} failed")
        ran["daily_runs"][date] = run.run_id
    return ran


def print_reconciliation(rows) -> None:
    table = Table(title="Reconciliation: every accepted event, stage by stage")
    for column in ("entity", "stage", "expected", "found", "lost", "duplicated", "note"):
        table.add_column(column, justify="right" if column in ("expected", "found", "lost", "duplicated") else "left")
    for r in rows:
        style = "red" if (r.lost or r.duplicated) else None
        table.add_row(r.entity, r.stage, f"{r.expected:,}", f"{r.found:,}", str(r.lost), str(r.duplicated),
                      r.note, style=style)
    console.print(table)


def print_quarantine(settings, spark) -> None:
    from pyspark.sql import functions as F

    table = Table(title="Quarantine by reason")
    for column in ("stage", "entity", "reason", "records"):
        table.add_column(column)
    lake = settings.lake.rstrip("/")
    any_row = False
    for entity in ("pin", "geo", "user"):
        try:
            df = spark.read.parquet(f"{lake}/quarantine/cleaned/{entity}")
        except Exception:  # noqa: BLE001 - no rejects for this entity
            continue
        for r in df.groupBy("reason").agg(F.count("*").alias("n")).orderBy("reason").collect():
            table.add_row("cleaning", entity, r["reason"], f"{r['n']:,}")
            any_row = True
    if not any_row:
        table.add_row("-", "-", "nothing quarantined", "0")
    console.print(table)


def print_analysis(settings) -> None:
    import psycopg

    with psycopg.connect(settings.postgres_dsn) as conn:
        for title, query in ANALYSIS.items():
            cursor = conn.execute(query)
            table = Table(title=title, min_width=len(title) + 4)
            for column in cursor.description:
                table.add_column(column.name)
            for row in cursor.fetchall():
                table.add_row(*["" if v is None else (f"{v:,}" if isinstance(v, int) and abs(v) >= 1000 else str(v))
                                for v in row])
            console.print(table)


@click.command()
@click.option("--events", default=5000, show_default=True, type=click.IntRange(min=1),
              help="events to post (each posts a pin, a geo and a user record)")
@click.option("--seed", default=11_154, show_default=True, help="dataset and sampling seed")
@click.option("--concurrency", default=16, show_default=True, help="emulator requests in flight")
@click.option("--keep-running", is_flag=True, help="leave the stack running afterwards (for the UI)")
def demo(events: int, seed: int, concurrency: int, keep_running: bool):
    """End to end on the local stack: API -> Kafka -> Dagster asset graph -> lake + Postgres,
    then a reconciliation that must show lost = 0 and duplicated = 0."""
    from dagster import DagsterInstance

    from pinterest_assets.ingest.emulator import EmulatorConfig, run
    from pinterest_assets.reconcile import clean, reconcile
    from pinterest_assets.resources.spark import build_spark_session
    from pinterest_assets.settings import get_settings
    from pinterest_assets.stack import StackError, manager
    from pinterest_assets.stack.dagster_home import dagster_env, prepare_dagster_home

    started_at = time.monotonic()

    def say(msg: str) -> None:
        console.print(f"[bold cyan]▶[/] {msg}  [dim]({time.monotonic() - started_at:,.0f}s)[/]")

    settings = get_settings()
    demo_home = settings.home / "demo"
    (demo_home / "logs").mkdir(parents=True, exist_ok=True)
    was_running = {k for k, v in manager.status(settings)["services"].items() if v["running"]}
    api = None
    try:
        say("starting the local stack (Kafka KRaft, PostgreSQL)")
        manager.up(settings, echo=lambda m: console.print(f"  {m}"))
        prepare_dagster_home(settings)
        os.environ.update(dagster_env(settings))
        say(f"starting the ingestion API on {settings.api_base_url}")
        api = start_api(settings, demo_home)

        say(f"posting {events:,} events through the API")
        report = run(EmulatorConfig(url=settings.api_base_url, count=events, seed=seed, concurrency=concurrency),
                     progress=True)
        summary = report.summary()
        (demo_home / "emulator-report.json").write_text(json.dumps(report.to_dict()))
        console.print(f"  sent {summary['sent']:,} records: accepted {summary['accepted_total']:,}, "
                      f"rejected {sum(summary['rejected'].values()):,}, failed {summary['failed']:,}, "
                      f"retried {summary['retried']:,}")

        with DagsterInstance.get() as instance:
            drive_asset_graph(instance, say)

        say("reconciling every accepted event against Kafka, the lake and Postgres")
        spark = build_spark_session(app_name="pinterest-demo")
        rows = reconcile(report.accepted_records, settings, spark)
        print_reconciliation(rows)
        print_quarantine(settings, spark)
        print_analysis(settings)
        console.print(
            "\nSee the same runs and lineage in the Dagster UI:\n"
            f"  make dev    (or: pinterest stack up && eval \"$(pinterest stack env)\" && "
            "dagster-webserver -w workspace.yaml -h 127.0.0.1 -p 3000)\n  then open http://127.0.0.1:3000\n")
        if summary["failed"] or not summary["accounted"]:
            raise click.ClickException(f"the emulator could not deliver {summary['failed']} record(s)")
        if not clean(rows):
            raise click.ClickException("reconciliation found lost or duplicated events (red rows above)")
        say(f"done: lost = 0, duplicated = 0 in {time.monotonic() - started_at:,.0f}s")
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if api is not None:
            from pinterest_assets.stack.common import terminate

            terminate(api.pid, timeout=10)
        if not keep_running and not was_running:
            manager.down(settings, echo=lambda m: console.print(f"  {m}"))
