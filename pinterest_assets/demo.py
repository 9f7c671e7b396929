"""`pinterest demo`: the end-to-end run a new user starts with (`make demo`)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--events", default=5000, show_default=True, help="events to post through the API")
@click.option("--keep-running", is_flag=True, help="leave the stack running afterwards")
def demo(events: int, keep_running: bool):
    """Start the local stack, show its endpoints, and stop what it started."""
    from pinterest_assets.settings import get_settings
    from pinterest_assets.stack import StackError, manager

    settings = get_settings()
    already = {k for k, v in manager.status(settings)["services"].items() if v["running"]}
    try:
        info = manager.up(settings, with_s3=False, echo=lambda m: click.echo(m, err=True))
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({k: info[k] for k in ("kafka_bootstrap", "postgres_dsn", "lake_uri", "api_url")}, indent=2))
    if not keep_running and not already:
        manager.down(settings, echo=lambda m: click.echo(m, err=True))
