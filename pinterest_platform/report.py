"""`pinterest report`: the eight analysis answers as one self-contained HTML file (and, with
``--print``, as tables in the terminal), read from the ``analytics`` marts in PINTEREST_PG_DSN.

The marts are built by the Dagster asset graph (dbt); this command only reads them. The
``analytics_report`` asset writes the same page after every refresh of the marts.
"""

from __future__ import annotations

from pathlib import Path

import click


def print_answers(answers, console, max_rows: int = 8) -> None:
    """The eight answers, compactly: one small table each, long ones cut to `max_rows` rows."""
    from rich.table import Table

    from pinterest_assets.report import format_value

    for n, answer in enumerate(answers, start=1):
        title = f"{n}. {answer.question.title}"
        table = Table(title=title, min_width=len(title) + 4, title_justify="left")
        for column in answer.columns:
            table.add_column(column, justify="left")
        for row in answer.rows[:max_rows]:
            table.add_row(*[format_value(c, v) for c, v in zip(answer.columns, row)])
        if len(answer.rows) > max_rows:
            table.caption = f"{max_rows} of {len(answer.rows)} rows; all in the report"
        if not answer.rows:
            table.caption = "no rows yet"
        console.print(table)


def load_answers(settings):
    """The answers from the marts, or a one-line ClickException (no database, no marts)."""
    import psycopg

    from pinterest_assets.report import MartsMissing, fetch_answers
    from pinterest_assets.resources.postgres import PostgresResource

    resource = PostgresResource(dsn=settings.postgres_dsn)
    try:
        with psycopg.connect(settings.postgres_dsn, connect_timeout=10) as conn:
            return fetch_answers(conn), resource.safe_dsn()
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise click.ClickException(
            f"cannot connect to PostgreSQL at {resource.safe_dsn()} ({reason}); start the stack with "
            "`pinterest stack up` or point PINTEREST_PG_DSN at your server") from None
    except MartsMissing as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write  [default: <PINTEREST_HOME>/reports/pinterest-analysis.html]")
@click.option("--print", "show", is_flag=True, help="also print the eight answers in the terminal")
def report(output: Path | None, show: bool):
    """Write the analysis report (a chart and a table per question; opens with no network)."""
    from rich.console import Console

    from pinterest_assets.report import default_report_path, write_report
    from pinterest_assets.settings import get_settings

    settings = get_settings()
    answers, source = load_answers(settings)
    path = output or default_report_path(settings)
    try:
        write_report(answers, path, source=source)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    if show:
        print_answers(answers, Console())
    click.echo(f"report: {path.resolve()}")
