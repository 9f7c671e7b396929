"""The `pinterest` console script.

Subcommands live next to the code they drive and are imported only when invoked, so
`pinterest --help` and `pinterest stack status` stay fast (no Spark, no Dagster import).
"""

from __future__ import annotations

import importlib
import sys

import click

# name -> "module:attribute" of a click command
SUBCOMMANDS = {
    "stack": "pinterest_platform.stack.cli:stack",
    "datagen": "pinterest_ingest.cli:datagen",
    "emulate": "pinterest_ingest.cli:emulate",
    "api": "pinterest_ingest.cli:api",
    "clean": "pinterest_platform.clean_cli:clean",
    "stream": "pinterest_platform.stream_cli:stream",
    "demo": "pinterest_platform.demo:demo",
    "dev": "pinterest_platform.dev:dev",
    "report": "pinterest_platform.report:report",
    "topic": "pinterest_platform.topic_cli:topic",
}

HELP = {
    "stack": "Start, stop and inspect the local Kafka, Postgres and S3 services.",
    "datagen": "Write the synthetic dirty Pinterest dataset as JSON lines.",
    "emulate": "Post sampled records to the ingestion API, like the original emulator.",
    "api": "Run the ingestion API (FastAPI) that produces to Kafka.",
    "clean": "Clean a raw JSON-lines file with the pipeline's Spark cleaning rules.",
    "stream": "Run the pin_stream query continuously (Kafka -> clean -> Postgres upsert).",
    "demo": "End to end: stack, API, emulator, asset graph, reconciliation.",
    "dev": "Stack, API, emulator and the Dagster UI (sensor on) until Ctrl-C.",
    "topic": "Grow a Kafka topic's partitions safely (`topic grow <entity> --partitions N`).",
    "report": "Write the analysis report (HTML) from the marts, or print one question (--question N).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx):
        """Configuration and environment problems end as one line on stderr and exit code 2."""
        from pinterest_assets.resources.spark_session import JavaMissingError, MissingJarsError
        from pinterest_assets.settings import SettingsError

        try:
            return super().invoke(ctx)
        except (SettingsError, JavaMissingError, MissingJarsError) as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)

    def format_commands(self, ctx, formatter):
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pinterest-pipeline")
def cli():
    """pinterest-pipeline: Pinterest events from an HTTP API through Kafka and Spark into
    S3/Postgres, orchestrated by Dagster."""


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
