"""`pinterest datagen`, `pinterest emulate` and `pinterest api`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write pin.jsonl, geo.jsonl and user.jsonl into.")
@click.option("--pins", default=11_154, show_default=True, type=click.IntRange(min=1),
              help="Number of pin rows (one geo and one user row each).")
@click.option("--seed", default=11_154, show_default=True, type=int, help="Same seed, same dataset.")
def datagen(out: Path, pins: int, seed: int):
    """Write the synthetic dirty Pinterest dataset as JSON lines."""
    from pinterest_ingest import datagen as gen

    paths = gen.write_jsonl(gen.generate(pins, seed=seed), out)
    for entity, path in paths.items():
        click.echo(f"{entity}: {path}")


@click.command()
@click.option("--url", default=None, help="API base URL (default: PINTEREST_API_URL or http://127.0.0.1:8000).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Events per second (one event = the pin, geo and user record of one sampled ind). "
                   "Default: as fast as the API answers.")
@click.option("--count", type=click.IntRange(min=0), default=None, help="Stop after N events.")
@click.option("--updates", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also post N new versions of keys already posted (changed title/follower_count, "
                   "country, age), interleaved with the events, so downstream must keep the newest.")
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after S seconds.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(min=1, max=512),
              help="Events in flight at once (worker threads).")
@click.option("--seed", default=11_154, show_default=True, type=int,
              help="Seed of the generated dataset and of the sampling.")
@click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder with pin/geo/user .jsonl or .csv files to post instead of the generated data.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON report here (it is always summarised on stdout).")
@click.option("--retry-deadline", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to keep retrying a 503/connection error before counting the record failed.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="HTTP timeout per request, seconds.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
def emulate(url, rate, count, updates, duration, concurrency, seed, dataset, report_path, retry_deadline,
            timeout, progress):
    """Post sampled records to the ingestion API, like the original emulator.

    Samples `ind`s with replacement and, for each, POSTs its pin, geo and user record. Runs until
    --count events, --duration seconds, or Ctrl-C. 503s and connection errors are retried with
    backoff and jitter until --retry-deadline, then counted as failed: every record ends up
    accepted, rejected or failed in the report.
    """
    import os

    from pinterest_ingest import emulator
    from pinterest_assets.settings import get_settings

    if count is not None and duration is not None:
        raise click.UsageError("give --count or --duration, not both")
    if updates and count == 0:
        raise click.UsageError("--updates needs at least one event to update: give --count of at least 1")
    try:
        rows = emulator.load_dataset(dataset) if dataset else None
    except emulator.DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    config = emulator.EmulatorConfig(
        url=(url or get_settings().api_base_url).rstrip("/"), rate=rate, count=count, duration=duration,
        concurrency=concurrency, seed=seed, retry_deadline=retry_deadline, timeout=timeout,
        api_key=os.environ.get("PINTEREST_API_KEY") or None, updates=updates,
    )
    show = sys.stderr.isatty() if progress is None else progress
    report = emulator.run(config, rows=rows, progress=show)
    summary = report.summary()
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    if report_path:
        click.echo(f"report: {report_path}")
    if report.failed:
        sys.exit(1)


class _Seconds(click.ParamType):
    """A finite number of seconds > 0 (click's FloatRange lets `inf` and `nan` through)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        from pinterest_ingest.api.config import ApiConfigError, parse_seconds

        try:
            return parse_seconds(param.opts[0] if param else "value", value)
        except ApiConfigError:
            self.fail(f"{value!r} is not a finite number of seconds > 0 and <= 3600", param, ctx)


@click.command()
@click.option("--host", default=None, help="Bind address (default: PINTEREST_BIND_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port (default: PINTEREST_API_PORT or 8000).")
@click.option("--ack-timeout", default=None, type=_Seconds(),
              help="Seconds to wait for Kafka's acknowledgement before answering 503 "
                   "(default: PINTEREST_API_ACK_TIMEOUT or 5).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def api(host, port, ack_timeout, log_level, access_log):
    """Run the ingestion API (FastAPI on uvicorn, one worker) that produces to Kafka.

    Every PINTEREST_API_* variable is checked before anything starts: a bad value is reported in
    one line (the variable, the value, what is allowed) with exit status 2, even when a flag
    overrides it.
    """
    import uvicorn

    from pinterest_ingest.api import ApiConfig, ApiConfigError, create_app
    from pinterest_ingest.api.config import load_settings

    try:
        config = ApiConfig.from_env(ack_timeout=ack_timeout, port=port)
        settings = load_settings()
        app = create_app(config)
    except ApiConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    uvicorn.run(app, host=host or settings.bind_host, port=config.port,
                log_level=log_level, access_log=access_log, timeout_graceful_shutdown=10)
