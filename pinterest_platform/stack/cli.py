"""`pinterest stack up|down|status|env`."""

from __future__ import annotations

import json
import os

import click

from pinterest_platform.stack.common import StackError


def _run(fn, **kwargs) -> dict:
    try:
        return fn(echo=lambda msg: click.echo(msg, err=True), **kwargs)
    except StackError as exc:
        raise click.ClickException(str(exc)) from None


def _print_status(info: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for name, svc in info["services"].items():
        state = f"running (pid {svc['pid']}, port {svc.get('port', '-')})" if svc["running"] else "stopped"
        click.echo(f"{name:15s} {state}")
    for key in ("mode", "kafka_bootstrap", "postgres_dsn", "lake_uri", "s3_endpoint", "spark_master",
                "spark_master_ui", "api_url"):
        click.echo(f"{key:16s} {info[key]}")
    if info.get("s3_persistent") is False:
        click.echo("note             the local S3 server (moto) keeps objects in memory: they are gone after "
                   "`stack down`")


@click.group()
def stack():
    """Start, stop and inspect the local Kafka, Postgres and S3 services (data under .local/)."""


@stack.command()
@click.option("--s3", "with_s3", is_flag=True,
              help="also start the local S3 API server: moto's server by default, which keeps objects "
                   "IN MEMORY (a lake on it is gone after `stack down`); with PINTEREST_S3_SERVER=versitygw, "
                   "versitygw's posix backend, which keeps them on disk under <PINTEREST_HOME>/s3/data "
                   "(built by `make setup`)")
@click.option("--cluster", "cluster_mode", is_flag=True,
              help="cluster mode: 3 KRaft Kafka brokers (topics RF 3, min.insync.replicas 2) and a Spark "
                   "standalone master + 2 workers (pyspark's spark-class), instead of single-node Kafka")
@click.option("--json", "as_json", is_flag=True, help="print the endpoints as JSON")
def up(with_s3: bool, cluster_mode: bool, as_json: bool):
    """Start Kafka (KRaft) and PostgreSQL, with --s3 the local S3 API server (moto in memory, or
    versitygw on disk with PINTEREST_S3_SERVER=versitygw),
    with --cluster a 3-broker Kafka cluster and a Spark standalone cluster. Idempotent."""
    from pinterest_platform.stack import manager

    _print_status(_run(manager.up, with_s3=with_s3, cluster_mode=cluster_mode), as_json)


@stack.command()
@click.option("--force", is_flag=True,
              help="stop the in-memory S3 server even while the lake URI points at it (deletes the lake)")
def down(force: bool):
    """Stop exactly what `up` started. Data is kept for the next `up`, except moto's S3 objects
    (in memory): while the lake is on moto, `down` refuses unless --force (versitygw keeps them)."""
    from pinterest_platform.stack import manager

    _run(manager.down, force=force)


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="print endpoints and service states as JSON")
def status(as_json: bool):
    """Endpoints (Kafka bootstrap and brokers, Postgres DSN, lake URI, S3 endpoint, Spark master,
    API URL) and what runs."""
    from pinterest_platform.stack import manager

    _print_status(manager.status(), as_json)


@stack.command()
@click.option("--dotenv", is_flag=True,
              help="only Dagster's instance variables, as KEY=VALUE lines for the .env file "
                   "the dagster CLI reads from the project folder")
def env(dotenv: bool):
    """Print the variables that point Dagster and the tools at this stack."""
    from pinterest_assets.settings import get_settings
    from pinterest_platform.stack import manager
    from pinterest_platform.stack.dagster_home import dagster_env, dotenv_lines, prepare_dagster_home

    settings = get_settings()
    prepare_dagster_home(settings)
    if dotenv:
        click.echo("\n".join(dotenv_lines(settings)))
        return
    info = manager.status(settings)
    values = {
        "PINTEREST_KAFKA_BOOTSTRAP": info["kafka_bootstrap"],
        "PINTEREST_PG_DSN": settings.postgres_dsn,
        "PINTEREST_LAKE_URI": settings.lake,
        **dagster_env(settings),
    }
    if info["s3_endpoint"]:
        values["PINTEREST_S3_ENDPOINT"] = info["s3_endpoint"]
    if info["mode"] == "cluster" and info["spark_master_ui"]:
        from pinterest_platform.stack.cluster import API_ACK_TIMEOUT

        values["PINTEREST_SPARK_MASTER"] = info["spark_master"]
        values["PINTEREST_API_ACK_TIMEOUT"] = os.environ.get("PINTEREST_API_ACK_TIMEOUT", API_ACK_TIMEOUT)
    for key, value in values.items():
        click.echo(f"export {key}='{value}'")
