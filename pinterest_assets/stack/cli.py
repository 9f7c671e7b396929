"""`pinterest stack up|down|status`."""

from __future__ import annotations

import json

import click

from pinterest_assets.stack.common import StackError


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
        state = f"running (pid {svc['pid']}, port {svc['port']})" if svc["running"] else "stopped"
        click.echo(f"{name:9s} {state}")
    for key in ("kafka_bootstrap", "postgres_dsn", "lake_uri", "s3_endpoint", "api_url"):
        click.echo(f"{key:16s} {info[key]}")


@click.group()
def stack():
    """Start, stop and inspect the local Kafka, Postgres and S3 services (data under .local/)."""


@stack.command()
@click.option("--s3", "with_s3", is_flag=True, help="also start the local S3 API server (S3Proxy)")
@click.option("--json", "as_json", is_flag=True, help="print the endpoints as JSON")
def up(with_s3: bool, as_json: bool):
    """Start Kafka (KRaft) and PostgreSQL, and with --s3 an S3 server. Idempotent."""
    from pinterest_assets.stack import manager

    _print_status(_run(manager.up, with_s3=with_s3), as_json)


@stack.command()
def down():
    """Stop exactly what `up` started. Data is kept for the next `up`."""
    from pinterest_assets.stack import manager

    _run(manager.down)


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="print endpoints and service states as JSON")
def status(as_json: bool):
    """Endpoints (Kafka bootstrap, Postgres DSN, lake URI, S3 endpoint, API URL) and what runs."""
    from pinterest_assets.stack import manager

    _print_status(manager.status(), as_json)


@stack.command()
@click.option("--dotenv", is_flag=True,
              help="only Dagster's instance variables, as KEY=VALUE lines for the .env file "
                   "the dagster CLI reads from the project folder")
def env(dotenv: bool):
    """Print the variables that point Dagster and the tools at this stack."""
    from pinterest_assets.settings import get_settings
    from pinterest_assets.stack.dagster_home import dagster_env, prepare_dagster_home

    settings = get_settings()
    prepare_dagster_home(settings)
    if dotenv:
        for key, value in dagster_env(settings).items():
            click.echo(f"{key}={value}")
        return
    values = {
        "PINTEREST_KAFKA_BOOTSTRAP": settings.kafka_bootstrap_servers,
        "PINTEREST_PG_DSN": settings.postgres_dsn,
        "PINTEREST_LAKE_URI": settings.lake,
        **dagster_env(settings),
    }
    if settings.s3_endpoint_url:
        values["PINTEREST_S3_ENDPOINT"] = settings.s3_endpoint_url
    for key, value in values.items():
        click.echo(f"export {key}='{value}'")
