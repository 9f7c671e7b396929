"""`pinterest report`: the eight analysis answers as one self-contained HTML file (and, with
``--print``, as tables in the terminal), read from the ``analytics`` marts in PINTEREST_PG_DSN;
``--question N`` prints one question's marts as a table, CSV or JSON instead.

The marts are built by the Dagster asset graph (dbt); this command only reads them. The
``analytics_report`` asset writes the same page after every refresh of the marts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

TABLE_ROWS = 20  # --format table without --all-rows


def print_answers(answers, console, max_rows: int | None = 8) -> None:
    """Answers as one small table per mart, long ones cut to `max_rows` rows (None: all)."""
    from rich.table import Table

    from pinterest_assets.report import format_value, years_covered

    for answer in answers:
        q, part = answer.question, answer.part
        title = f"{q.number}. {q.title}" + (f" — {part.title}" if len(q.parts) > 1 else "")
        table = Table(title=title, min_width=len(title) + 4, title_justify="left")
        for column in answer.columns:
            table.add_column(column, justify="left")
        rows = answer.rows if max_rows is None else answer.rows[:max_rows]
        for row in rows:
            table.add_row(*[format_value(c, v) for c, v in zip(answer.columns, row)])
        if len(rows) < len(answer.rows):
            table.caption = f"{len(rows)} of {len(answer.rows)} rows; all with --all-rows, or in the report"
        if not answer.rows:
            table.caption = "no rows yet"
        coverage = years_covered(answer)
        if coverage:
            table.caption = f"{table.caption}. {coverage}" if table.caption else coverage
        console.print(table)


def write_csv(answers, out) -> None:
    """One CSV per mart; a question with two marts gets a `# analytics.<mart>` line before each."""
    from pinterest_assets.report import SCHEMA, csv_text

    for i, answer in enumerate(answers):
        if len(answers) > 1:
            out.write(("\n" if i else "") + f"# {SCHEMA}.{answer.part.mart}\n")
        out.write(csv_text(answer))


def as_json(answers) -> str:
    from pinterest_assets.report import SCHEMA

    q = answers[0].question
    return json.dumps({
        "question": q.number, "title": q.title,
        "marts": [{"mart": f"{SCHEMA}.{a.part.mart}", "title": a.part.title, "columns": a.columns,
                   "rows": a.records()} for a in answers],
    }, indent=2, default=str, ensure_ascii=False)


def load_answers(settings):
    """The answers from the marts and the database's address without its password (for messages),
    or a one-line ClickException (no database, no marts)."""
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
@click.option("--question", "-q", type=click.IntRange(1, 8), default=None,
              help="print only question N (1-8) and write no page")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="with --question: how to print it (csv and json always hold every row)")
@click.option("--all-rows", is_flag=True, help=f"tables: every row (default: the first {TABLE_ROWS})")
def report(output: Path | None, show: bool, question: int | None, fmt: str, all_rows: bool):
    """Write the analysis report (per question: what it answers, a chart, a sortable table, CSV and
    SQL; opens with no network), or print one question with --question N."""
    from rich.console import Console

    from pinterest_assets.report import default_report_path, write_report
    from pinterest_assets.settings import get_settings

    if question is None and (fmt != "table"):
        raise click.UsageError("--format needs --question N (the page holds every question)")
    settings = get_settings()
    answers, _ = load_answers(settings)
    if question is not None:
        if output is not None or show:
            raise click.UsageError("--question prints one question; it does not take --output or --print")
        chosen = [a for a in answers if a.question.number == question]
        if fmt == "csv":
            write_csv(chosen, sys.stdout)
        elif fmt == "json":
            click.echo(as_json(chosen))
        else:
            print_answers(chosen, Console(), max_rows=None if all_rows else TABLE_ROWS)
        return
    path = output or default_report_path(settings)
    try:
        write_report(answers, path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    if show:
        print_answers(answers, Console(), max_rows=None if all_rows else 8)
    click.echo(f"report: {path.resolve()}")
