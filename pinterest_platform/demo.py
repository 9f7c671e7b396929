"""`pinterest demo` (`make demo`): the pipeline end to end on the local stack, then the proof.

1. start the stack (Kafka, Postgres) and the ingestion API;
2. post N events with the emulator (pin, geo and user record of each sampled `ind`);
3. drive the asset graph the way production does, on the Dagster instance of `dagster.yaml`
   (runs recorded in Postgres, visible later in the UI): the Kafka sensor's run request ->
   `ingest_job` (raw landing + pin_stream), then `daily_batch_job` for every day that landed,
   then `analytics_job` (dbt: the eight `analytics` marts with their tests, and the HTML report);
4. print the reconciliation (it checks values: every key's row in the lake and in Postgres must
   equal the cleaned form of its newest event; lost, duplicated and stale must be 0), quarantine
   counts, the eight analysis answers from the marts and the report's path; stop what it started.

The emulator also posts ``--updates`` new versions of keys it already posted (changed title,
follower count, country, age), so the reconciliation proves that the newest version won.
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
    from pinterest_platform.stack import common

    common.ensure_port_free(settings.bind_host, settings.api_port, "the ingestion API", "PINTEREST_API_PORT")
    log = home / "logs" / "api.log"
    proc = common.spawn([sys.executable, "-m", "pinterest_platform.cli", "api", "--port", str(settings.api_port)],
                        log, env=os.environ.copy())
    _wait_http(f"http://{settings.bind_host}:{settings.api_port}/healthz", 60, proc, log)
    return proc


def drive_asset_graph(instance, say) -> dict:
    """Sensor -> ingest_job, then daily_batch_job for each landed day. Returns what ran."""
    import dagster as dg

    from pinterest_assets.landing.files import landed_files
    from pinterest_assets.definitions import build_resources, defs
    from pinterest_assets import entities as registry

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
    dates = sorted({f.date for entity in registry.names() for f in landed_files(resources["lake"], entity)})
    daily = definitions.resolve_job_def("daily_batch_job")
    for date in dates:
        say(f"daily_batch_job for partition {date}: cleaned_* Iceberg tables + Postgres tables")
        run = daily.execute_in_process(instance=instance, partition_key=date, run_config=QUIET_RUN_CONFIG)
        if not run.success:
            raise click.ClickException(f"daily_batch_job run {run.run_id} for {date} failed")
        ran["daily_runs"][date] = run.run_id
    # the marts refresh by declarative automation in a deployment; here nothing runs the daemon
    say("analytics_job: dbt build of the marts (dbt tests as asset checks) + the HTML report")
    run = definitions.resolve_job_def("analytics_job").execute_in_process(instance=instance, run_config=QUIET_RUN_CONFIG)
    if not run.success:
        raise click.ClickException(f"analytics_job run {run.run_id} failed (dbt build); see it in the Dagster UI")
    ran["analytics_run"] = run.run_id
    return ran


def print_reconciliation(rows) -> None:
    numbers = ("expected", "found", "lost", "duplicated", "stale")
    table = Table(title="Reconciliation: every accepted event, stage by stage, value by value")
    for column in ("entity", "stage", *numbers, "note"):
        table.add_column(column, justify="right" if column in numbers else "left")
    for r in rows:
        style = "red" if not r.ok else None
        table.add_row(r.entity, r.stage, f"{r.expected:,}", f"{r.found:,}", str(r.lost), str(r.duplicated),
                      str(r.stale), r.note, style=style)
    console.print(table)
    for r in rows:
        for example in r.examples:
            console.print(f"  [red]{r.entity} {r.stage}: {example}[/]")


def print_quarantine(settings, spark, dates: list[str]) -> None:
    from functools import reduce

    from pyspark.sql import functions as F

    from pinterest_assets import entities as registry
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_platform.reconcile import read_cleaned_partition

    table = Table(title="Quarantine by reason")
    for column in ("stage", "entity", "reason", "records"):
        table.add_column(column)
    lake = LakeResource.from_settings(settings)
    any_row = False
    for entity in registry.names():
        parts = [p.select("reason") for d in dates
                 if (p := read_cleaned_partition(spark, lake, entity, d, rejects=True)) is not None]
        if not parts:
            continue
        df = reduce(lambda a, b: a.unionByName(b), parts)
        for r in df.groupBy("reason").agg(F.count("*").alias("n")).orderBy("reason").collect():
            table.add_row("cleaning", entity, r["reason"], f"{r['n']:,}")
            any_row = True
    if not any_row:
        table.add_row("-", "-", "nothing quarantined", "0")
    console.print(table)


def print_analysis(settings) -> None:
    """All eight answers from the `analytics` marts, compactly, and where the HTML report is."""
    from pinterest_assets.report import default_report_path
    from pinterest_platform.report import load_answers, print_answers

    answers, _ = load_answers(settings)
    print_answers(answers, console)
    console.print(f"\nAnalysis report (one HTML file, opens offline): {default_report_path(settings)}")


@click.command()
@click.option("--events", default=5000, show_default=True, type=click.IntRange(min=1),
              help="events to post (each posts a pin, a geo and a user record)")
@click.option("--updates", default=None, type=click.IntRange(min=0),
              help="new versions of already-posted keys to post among the events  [default: events / 5]")
@click.option("--seed", default=11_154, show_default=True, help="dataset and sampling seed")
@click.option("--concurrency", default=16, show_default=True, help="emulator requests in flight")
@click.option("--keep-running", is_flag=True, help="leave the stack running afterwards (for the UI)")
@click.option("--s3", "s3", is_flag=True,
              help="lake on the local S3 API (moto, in memory) through s3a:// instead of a local folder")
@click.option("--secure", is_flag=True,
              help="every client through Kafka SASL_SSL (SCRAM-SHA-512) and TLS-only Postgres "
              "(sslmode=verify-full), with a CA and certificates made under <home>/tls")
def demo(events: int, updates: int | None, seed: int, concurrency: int, keep_running: bool, s3: bool,
         secure: bool):
    """End to end on the local stack: API -> Kafka -> Dagster asset graph -> lake + Postgres,
    then a reconciliation of every value that must show lost = 0, duplicated = 0 and stale = 0."""
    from dagster import DagsterInstance

    from pinterest_ingest.emulator import EmulatorConfig, run
    from pinterest_platform.reconcile import clean, reconcile
    from pinterest_assets.resources.spark_session import build_spark_session
    from pinterest_assets.settings import get_settings
    from pinterest_platform.stack import StackError, manager
    from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home

    started_at = time.monotonic()

    def say(msg: str) -> None:
        console.print(f"[bold cyan]▶[/] {msg}  [dim]({time.monotonic() - started_at:,.0f}s)[/]")

    if secure:
        _secure_environment(get_settings())
    settings = _with_s3_lake(get_settings()) if s3 else get_settings()
    demo_home = settings.home / "demo"
    (demo_home / "logs").mkdir(parents=True, exist_ok=True)
    was_running = {k for k, v in manager.status(settings)["services"].items() if v["running"]}
    if secure and was_running:
        raise click.ClickException("--secure starts the stack with a SASL_SSL listener and TLS-only Postgres: "
                                   "stop the running stack first (`pinterest stack down`)")
    api = None
    try:
        say("starting the local stack (Kafka KRaft, PostgreSQL)")
        manager.up(settings, with_s3=s3, echo=lambda m: console.print(f"  {m}"))
        say(f"lake: {settings.lake}")
        if secure:
            say(f"kafka: {settings.kafka_bootstrap_servers} over {settings.kafka_security_protocol} "
                f"({settings.kafka_sasl_mechanism}); postgres: TLS only, sslmode=verify-full")
        prepare_dagster_home(settings)
        os.environ.update(dagster_env(settings))
        say(f"starting the ingestion API on {settings.api_base_url}")
        api = start_api(settings, demo_home)

        updates = events // 5 if updates is None else updates
        say(f"posting {events:,} events and {updates:,} updates of already-posted keys through the API")
        report = run(EmulatorConfig(url=settings.api_base_url, count=events, updates=updates, seed=seed,
                                    concurrency=concurrency), progress=True)
        summary = report.summary()
        (demo_home / "emulator-report.json").write_text(json.dumps(report.to_dict()))
        console.print(f"  sent {summary['sent']:,} records: accepted {summary['accepted_total']:,}, "
                      f"rejected {sum(summary['rejected'].values()):,}, failed {summary['failed']:,}, "
                      f"retried {summary['retried']:,}")

        with DagsterInstance.get() as instance:
            ran = drive_asset_graph(instance, say)

        say("reconciling every accepted event against Kafka, the lake and Postgres, value by value")
        spark = build_spark_session(app_name="pinterest-demo")
        rows = reconcile(report.accepted_records, settings, spark)
        print_reconciliation(rows)
        print_quarantine(settings, spark, sorted(ran["daily_runs"]))
        print_analysis(settings)
        console.print(
            "\nSee the same runs and lineage in the Dagster UI:\n"
            f"  make dev    (or: pinterest stack up && eval \"$(pinterest stack env)\" && "
            "dagster-webserver -w workspace.yaml -h 127.0.0.1 -p 3000)\n  then open http://127.0.0.1:3000\n")
        if summary["failed"] or not summary["accounted"]:
            raise click.ClickException(f"the emulator could not deliver {summary['failed']} record(s)")
        if not clean(rows):
            raise click.ClickException("reconciliation found lost, duplicated or stale rows (red rows above)")
        say(f"done: lost = 0, duplicated = 0, stale = 0 in {time.monotonic() - started_at:,.0f}s")
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if api is not None:
            from pinterest_platform.stack.common import terminate

            terminate(api.pid, timeout=10)
        if not keep_running and not was_running:
            # the demo's own in-memory S3 lake goes with the S3 server it started (--force)
            manager.down(settings, force=s3, echo=lambda m: console.print(f"  {m}"))


def _secure_environment(settings) -> None:
    """`--secure`: the local broker's SASL_SSL listener (PINTEREST_KAFKA_SECURE_PORT, default Kafka's
    port + 2) with a SCRAM-SHA-512 user whose password is drawn now, TLS-only Postgres; every
    client of this process and of the processes it starts (API, Dagster runs) uses them."""
    import secrets

    os.environ.setdefault("PINTEREST_KAFKA_SECURE_PORT", str(settings.kafka_port + 2))
    os.environ.update({"PINTEREST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PINTEREST_PG_TLS": "true"})
    os.environ.setdefault("PINTEREST_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    os.environ.setdefault("PINTEREST_KAFKA_SASL_USERNAME", "pinterest")
    os.environ.setdefault("PINTEREST_KAFKA_SASL_PASSWORD", secrets.token_urlsafe(18))


def _with_s3_lake(settings):
    """`--s3`: the lake at s3a://<bucket>/demo on the local S3 API server (unless the environment
    already names an S3 endpoint and lake URI)."""
    from pinterest_assets.settings import get_settings
    from pinterest_platform.stack import s3 as local_s3

    os.environ.setdefault("PINTEREST_S3_ENDPOINT", local_s3.endpoint(settings))
    os.environ.setdefault("PINTEREST_LAKE_URI", f"s3a://{settings.s3_bucket}/demo")
    return get_settings()
