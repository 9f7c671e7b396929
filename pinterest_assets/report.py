"""The eight analysis answers: how to read them from the ``analytics`` marts, how to print them and
how to draw them as one self-contained HTML page (inline SVG charts, no script, no network).

Used by the ``analytics_report`` asset and by the ``pinterest report`` / ``pinterest demo``
commands. Pure Python + psycopg: no Dagster, no Spark.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = "analytics"


@dataclass(frozen=True)
class Question:
    mart: str                 # model name = table analytics.<mart>
    title: str
    label: tuple[str, ...]    # column(s) naming a bar
    value: str                # column the bar's length shows
    note: str | None = None   # column written next to the bar (the answer: a category, a name)
    order_by: str = ""        # SQL ORDER BY of the table (and of the bars)
    chart_rows: int = 25      # bars drawn at most (the table under it lists every row)
    highlight: str | None = None  # boolean column: bars drawn in the accent colour

    def sql(self) -> str:
        return f"select * from {SCHEMA}.{self.mart} order by {self.order_by}"


QUESTIONS: tuple[Question, ...] = (
    Question("category_by_country", "Most popular category per country", ("country",), "category_count",
             note="category", order_by="category_count desc, country"),
    Question("category_by_year", "Most popular category per year (geo timestamp)", ("year",), "category_count",
             note="category", order_by="year"),
    Question("top_user_by_country", "Top poster per country (by followers)", ("country",), "follower_count",
             note="poster_name", order_by="follower_count desc, country", highlight="is_top_country"),
    Question("category_by_age_group", "Most popular category per age group", ("age_group",), "category_count",
             note="category", order_by="age_group"),
    Question("median_followers_by_age_group", "Median follower count per age group", ("age_group",),
             "median_follower_count", order_by="age_group"),
    Question("users_joined_by_year", "Users joined per year", ("join_year",), "users_joined", order_by="join_year"),
    Question("median_followers_by_join_year", "Median follower count per join year", ("join_year",),
             "median_follower_count", order_by="join_year"),
    Question("median_followers_by_join_year_and_age_group", "Median follower count per join year and age group",
             ("age_group", "join_year"), "median_follower_count", order_by="age_group, join_year"),
)
MARTS: tuple[str, ...] = tuple(q.mart for q in QUESTIONS)


@dataclass
class Answer:
    question: Question
    columns: list[str]
    rows: list[tuple]
    extra: dict = field(default_factory=dict)

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def fetch_answers(conn) -> list[Answer]:
    """Every mart's rows (a psycopg connection). A missing mart is a clear error, not a traceback."""
    import psycopg

    answers = []
    for question in QUESTIONS:
        try:
            cursor = conn.execute(question.sql())
        except psycopg.errors.UndefinedTable:
            raise MartsMissing(
                f"{SCHEMA}.{question.mart} does not exist yet: materialize the analytics assets first "
                "(`pinterest demo`, the Dagster UI, or `dagster asset materialize --select 'group:analytics' "
                "-m pinterest_assets.definitions`)") from None
        answers.append(Answer(question, [c.name for c in cursor.description], cursor.fetchall()))
    return answers


class MartsMissing(RuntimeError):
    """The analytics schema has not been built in this database."""


# ------------------------------------------------------------------------------------ formatting
def is_year_column(name: str) -> bool:
    return name == "year" or name.endswith("_year")


def format_value(column: str, value) -> str:
    """How a cell prints: years as plain digits (2017, never 2,017), counts with thousands
    separators, medians with one decimal only when they have one."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return str(value) if is_year_column(column) else f"{value:,}"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.1f}"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def bar_label(question: Question, record: dict) -> str:
    return " · ".join(format_value(c, record[c]) for c in question.label)


# ---------------------------------------------------------------------------------------- charts
CHART_WIDTH = 760
LABEL_WIDTH = 190
NOTE_WIDTH = 200
ROW_HEIGHT = 22
TOP = 8


def svg_chart(answer: Answer) -> str:
    """A horizontal bar chart of the answer as inline SVG (one bar per row, up to chart_rows)."""
    q = answer.question
    records = answer.records()[: q.chart_rows]
    values = [float(r[q.value] or 0) for r in records]
    top = max(values, default=0) or 1.0
    bar_space = CHART_WIDTH - LABEL_WIDTH - NOTE_WIDTH - 70
    height = TOP * 2 + max(1, len(records)) * ROW_HEIGHT
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
             f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{html.escape(q.title)}">']
    if not records:
        parts.append(f'<text x="{LABEL_WIDTH}" y="{TOP + 15}" class="empty">no rows yet</text>')
    for i, (record, value) in enumerate(zip(records, values)):
        y = TOP + i * ROW_HEIGHT
        width = max(1.0, bar_space * value / top)
        label = html.escape(bar_label(q, record))
        shown = html.escape(format_value(q.value, record[q.value]))
        note = html.escape(format_value(q.note, record[q.note])) if q.note else ""
        accent = " accent" if q.highlight and record.get(q.highlight) else ""
        parts.append(
            f'<g class="row"><title>{label}: {shown}{" — " + note if note else ""}</title>'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" class="label">{label}</text>'
            f'<rect class="bar{accent}" x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{ROW_HEIGHT - 6}"/>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 15}" class="value">{shown}'
            + (f'<tspan class="note" dx="8">{note}</tspan>' if note else "")
            + "</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def html_table(answer: Answer) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in answer.columns)
    body = []
    for row in answer.rows:
        cells = []
        for column, value in zip(answer.columns, row):
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and not is_year_column(column)
            cells.append(f'<td{" class=num" if numeric else ""}>{html.escape(format_value(column, value))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(answer.columns)}">no rows yet</td></tr>')
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 820px;
       color: #1f2328; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 36px; }
.meta { color: #57606a; }
figure { margin: 0; } figcaption { color: #57606a; font-size: 12px; margin-bottom: 4px; }
svg.chart text { font-size: 12px; fill: #1f2328; } svg.chart .note { fill: #57606a; font-style: italic; }
svg.chart rect.bar { fill: #e60023; opacity: .75; } svg.chart rect.bar.accent { fill: #0969da; opacity: 1; }
.scroll { max-height: 320px; overflow: auto; border: 1px solid #d0d7de; border-radius: 6px; margin-top: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eaeef2; text-align: left; }
th { position: sticky; top: 0; background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def render_html(answers: list[Answer], *, generated_at: dt.datetime | None = None, source: str = "") -> str:
    """One self-contained HTML page: per question a chart and, under it, its data table."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    sections = []
    for n, answer in enumerate(answers, start=1):
        q = answer.question
        shown = min(len(answer.rows), q.chart_rows)
        caption = (f"{shown} of {len(answer.rows)} rows charted (by {q.order_by}); all rows in the table"
                   if len(answer.rows) > shown else f"{len(answer.rows)} rows")
        sections.append(
            f'<section id="{q.mart}"><h2>{n}. {html.escape(q.title)}</h2>'
            f'<figure class="question" data-mart="{q.mart}">'
            f'<figcaption>{html.escape(caption)} — <code>{SCHEMA}.{q.mart}</code></figcaption>'
            f"{svg_chart(answer)}</figure>"
            f'<div class="scroll">{html_table(answer)}</div></section>')
    meta = f"Generated {generated_at:%Y-%m-%d %H:%M:%S} UTC" + (f" from {html.escape(source)}" if source else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Pinterest pipeline — analysis</title><style>{STYLE}</style></head><body>"
            "<h1>Pinterest pipeline — the eight questions</h1>"
            f"<p class=\"meta\">{meta}. Marts in the <code>{SCHEMA}</code> schema, built by dbt from "
            "the newest row of each key in <code>pinterest.*_table</code>.</p>"
            + "".join(sections) + "</body></html>\n")


def write_report(answers: list[Answer], path: Path, *, source: str = "") -> Path:
    """Write the page atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(answers, source=source), encoding="utf-8")
    tmp.replace(path)
    return path


def default_report_path(settings) -> Path:
    return Path(settings.home) / "reports" / "pinterest-analysis.html"
