"""The eight analysis answers: how to read them from the ``analytics`` marts, how to print them and
how to draw them (charts: :mod:`pinterest_assets.report_charts`) as one self-contained HTML page (inline SVG charts, a small inline script that
sorts tables, CSV downloads as data: URLs; nothing loaded from the network).

Used by the ``analytics_report`` asset and by the ``pinterest report`` / ``pinterest demo``
commands. Pure Python + psycopg: no Dagster, no Spark.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from pinterest_assets.report_charts import chart, format_value, is_year_column
from pinterest_assets.settings import project_root

SCHEMA = "analytics"
DBT_PROJECT_DIR = project_root() / "analytics"

TIES = ("Ties are shown, never broken: every {what} sharing the top count is a row, and "
        "<code>{column}</code> says how many share it (1 = no tie).")
MEDIAN = ("The median is <code>percentile_cont(0.5)</code>: continuous, over the pins of the group (each pin "
          "counts its poster's follower count); a value marked * lies between the two middle pins, so no "
          "pin has it (<code>is_interpolated</code>).")
AGE_GROUPS = "Age groups: 18-24, 25-35, 36-50 (age 50 included), 50+ (older than 50)."


@dataclass(frozen=True)
class Part:
    """One mart and how it is drawn.

    chart: ``winners`` (categories by countries won, outright vs tied), ``hbar`` (a bar per row),
    ``columns`` (a column per key: year or age group), ``heatmap`` (rows x columns), or ``""``.
    Every drawn mark carries ``data-key`` / ``data-value`` (what the tests compare with the mart).
    """
    mart: str
    title: str
    order_by: str
    chart: str = ""
    key: tuple[str, ...] = ()        # column(s) a mark stands for
    value: str = ""                  # the column a mark's size shows
    note: str | None = None          # text column listed per key (tied categories, posters)
    chart_rows: int = 25             # hbar: bars drawn at most
    highlight: str | None = None     # hbar: boolean column drawn in the accent colour
    year_domain: tuple[int, int] | None = None   # the brief's year range (key column is the year)
    has_data: str = ""               # column > 0 when a row holds data (for the years covered)

    def sql(self) -> str:
        return f"select * from {SCHEMA}.{self.mart} order by {self.order_by}"


@dataclass(frozen=True)
class Question:
    number: int
    title: str
    about: str                       # HTML: what it answers and how
    parts: tuple[Part, ...]


QUESTIONS: tuple[Question, ...] = (
    Question(1, "Most popular category per country",
             "Pins are counted per country and category; a country's most popular category is the one with "
             "the most pins. The chart counts, per category, the countries where it is on top (alone, or "
             "tied with others). " + TIES.format(what="category", column="tied_categories"),
             (Part("category_by_country", "Top categories per country", "country, category", chart="winners",
                   key=("category",), value="countries"),)),
    Question(2, "Posts per category per year, and the most popular category each year (2018-2022)",
             "The year is the geolocation timestamp's (UTC); every year 2018-2022 is a row, 0 where no pin "
             "was posted. " + TIES.format(what="category", column="tied_categories"),
             (Part("posts_by_category_and_year", "Posts per category and year", "category, year", chart="heatmap",
                   key=("category", "year"), value="posts", year_domain=(2018, 2022), has_data="posts"),
              Part("category_by_year", "Most popular category per year", "year, category", chart="columns",
                   key=("year",), value="category_count", note="category", year_domain=(2018, 2022),
                   has_data="category_count"))),
    Question(3, "The user with the most followers per country, and the country of the top user overall",
             "A poster's follower count is the highest seen on the country's pins. "
             + TIES.format(what="poster", column="tied_posters")
             + " Every country whose top user has the highest count of all is marked (highlighted in the "
               "chart) and listed in the second table.",
             (Part("top_user_by_country", "Top poster per country", "follower_count desc, country, poster_name",
                   chart="hbar", key=("country",), value="follower_count", note="poster_name",
                   highlight="is_top_country"),
              Part("top_country_overall", "Country of the top poster overall", "country, poster_name"))),
    Question(4, "Most popular category per age group",
             "Pins are counted per age group of the pin's user and category. " + AGE_GROUPS + " "
             + TIES.format(what="category", column="tied_categories"),
             (Part("category_by_age_group", "Most popular category per age group", "age_group, category",
                   chart="columns", key=("age_group",), value="category_count", note="category",
                   has_data="category_count"),)),
    Question(5, "Median follower count per age group",
             MEDIAN + " " + AGE_GROUPS,
             (Part("median_followers_by_age_group", "Median follower count per age group", "age_group",
                   chart="columns", key=("age_group",), value="median_follower_count", has_data="pins"),)),
    Question(6, "Users joined per year (2015-2020)",
             "A user is one <code>ind</code>, counted in the year of <code>date_joined</code> (UTC); every "
             "year 2015-2020 is a row, 0 where nobody joined.",
             (Part("users_joined_by_year", "Users joined per year", "join_year", chart="columns",
                   key=("join_year",), value="users_joined", year_domain=(2015, 2020), has_data="users_joined"),)),
    Question(7, "Median follower count by join year (2015-2020)",
             MEDIAN + " A join year without pins has no median (pins 0).",
             (Part("median_followers_by_join_year", "Median follower count per join year", "join_year",
                   chart="columns", key=("join_year",), value="median_follower_count", year_domain=(2015, 2020),
                   has_data="pins"),)),
    Question(8, "Median follower count by join year and age group (2015-2020)",
             MEDIAN + " " + AGE_GROUPS + " An empty cell has no pins.",
             (Part("median_followers_by_join_year_and_age_group", "Median follower count per age group and join year",
                   "age_group, join_year", chart="heatmap", key=("age_group", "join_year"),
                   value="median_follower_count", year_domain=(2015, 2020), has_data="pins"),)),
)
PARTS: tuple[Part, ...] = tuple(p for q in QUESTIONS for p in q.parts)
MARTS: tuple[str, ...] = tuple(p.mart for p in PARTS)


@dataclass
class Answer:
    """One mart's rows (a question has one answer per part)."""
    question: Question
    part: Part
    columns: list[str]
    rows: list[tuple]

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def fetch_answers(conn) -> list[Answer]:
    """Every mart's rows (a psycopg connection). A missing mart is a clear error, not a traceback."""
    import psycopg

    answers = []
    for question in QUESTIONS:
        for part in question.parts:
            try:
                cursor = conn.execute(part.sql())
            except psycopg.errors.UndefinedTable:
                raise MartsMissing(
                    f"{SCHEMA}.{part.mart} does not exist yet: materialize the analytics assets first "
                    "(`pinterest demo`, the Dagster UI, or `dagster asset materialize --select 'group:analytics' "
                    "-m pinterest_assets.definitions`)") from None
            answers.append(Answer(question, part, [c.name for c in cursor.description], cursor.fetchall()))
    return answers


class MartsMissing(RuntimeError):
    """The analytics schema has not been built in this database."""


def model_sql(mart: str) -> str:
    """The SQL that built a mart: dbt's newest compiled file, else the model's source (Jinja)."""
    target = DBT_PROJECT_DIR / "target"
    compiled = sorted(target.glob(f"**/compiled/pinterest_analytics/models/marts/{mart}.sql"),
                      key=lambda p: p.stat().st_mtime) if target.is_dir() else []
    source = compiled[-1] if compiled else DBT_PROJECT_DIR / "models" / "marts" / f"{mart}.sql"
    try:
        return source.read_text(encoding="utf-8").strip()
    except OSError:
        return f"-- {source.name}: not found"


def years_covered(answer: Answer) -> str | None:
    """'Data cover 2018-2021; none in 2022.' for a mart over a year range; None otherwise."""
    part = answer.part
    if not part.year_domain:
        return None
    year_column = next(c for c in part.key if is_year_column(c))
    with_data = sorted({r[year_column] for r in answer.records() if (r[part.has_data] or 0) > 0})
    first, last = part.year_domain
    empty = [y for y in range(first, last + 1) if y not in with_data]
    if not with_data:
        return f"No data in {first}-{last} yet."
    text = f"The data cover {spans(with_data)} of {first}-{last}"
    return text + (f"; {spans(empty)}: none (zero or empty rows)." if empty else ".")


def top_overall(answer: Answer) -> str | None:
    """Q3's second part in words: 'Eve (Peru) has the most followers of all: 7,000.' (ties: all)."""
    if answer.part.mart != "top_country_overall":
        return None
    records = answer.records()
    if not records:
        return "No poster with a follower count yet."
    who = [f"{r['poster_name']} ({r['country']})" for r in records]
    count = format_value("follower_count", records[0]["follower_count"])
    if len(who) == 1:
        return f"{who[0]} has the most followers of all: {count}."
    countries = records[0]["tied_countries"]
    return (f"{', '.join(who[:-1])} and {who[-1]} tie for the most followers of all ({count}), "
            f"so {countries} countries share the answer.")


def spans(years: list[int]) -> str:
    runs, start = [], None
    for i, year in enumerate(years):
        start = year if start is None else start
        if i + 1 == len(years) or years[i + 1] != year + 1:
            runs.append(str(start) if start == year else f"{start}-{year}")
            start = None
    return ", ".join(runs)


def csv_text(answer: Answer) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(answer.columns)
    for row in answer.rows:
        writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in row])
    return out.getvalue()


def html_table(answer: Answer) -> str:
    head = "".join(f'<th scope="col" title="sort">{html.escape(c).replace("_", "_<wbr>")}</th>'
                   for c in answer.columns)
    body = []
    for row in answer.rows:
        cells = []
        for column, value in zip(answer.columns, row):
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            sort = "" if value is None else (str(value) if numeric else html.escape(str(value)))
            shown = format_value(column, value)
            if column == "median_follower_count" and answer.columns.count("is_interpolated") and \
                    row[answer.columns.index("is_interpolated")]:
                shown += " *"
            cls = " class=num" if numeric and not is_year_column(column) else ""
            cells.append(f'<td{cls} data-v="{sort}">{html.escape(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(answer.columns)}">no rows yet</td></tr>')
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


STYLE = """
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 16px;
       max-width: 1100px; color: #1f2328; overflow-wrap: anywhere; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin: 36px 0 6px; } h3 { font-size: 14px; margin: 14px 0 4px; }
.meta, .about, .coverage { color: #57606a; margin: 4px 0; } .answer { font-weight: 600; margin: 4px 0; } .coverage { font-style: italic; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr); gap: 12px; align-items: start; }
@media (min-width: 860px) { .pair { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); } }
figure { margin: 0; min-width: 0; } svg.chart { display: block; width: 100%; height: auto; max-width: 640px; }
svg.chart text { font-size: 12px; fill: #1f2328; } svg.chart .note { font-size: 11px; fill: #57606a; }
svg.chart .empty { fill: #8c959f; font-style: italic; } svg.chart .axis { stroke: #d0d7de; }
svg.chart rect.bar { fill: #e60023; opacity: .8; } svg.chart rect.bar.tied { fill: #f5a3b0; opacity: 1; }
svg.chart rect.bar.accent { fill: #0969da; opacity: 1; } svg.chart rect.bar.interpolated { opacity: .45; }
svg.chart rect.cell { fill: #e60023; } svg.chart .cellvalue { font-size: 11px; } svg.chart .dark { fill: #fff; }
.side { min-width: 0; }
.scroll { max-height: 340px; overflow: auto; border: 1px solid #d0d7de; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 3px 6px; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
th { position: sticky; top: 0; background: #f6f8fa; cursor: pointer; user-select: none; overflow-wrap: normal; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 600px) { body { padding: 10px; } table { font-size: 12px; } th, td { padding: 3px 3px; } }
.tools { font-size: 13px; margin: 6px 0; } .tools a { margin-right: 12px; }
details pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; padding: 8px; font-size: 12px;
              border-radius: 6px; }
"""

# Click a header to sort by it (numbers as numbers, empty last); click again to reverse.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var up = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col] ? a.cells[col].dataset.v : '', y = b.cells[col] ? b.cells[col].dataset.v : '';
        if (x === '' || y === '') return (x === '') - (y === '');
        var nx = Number(x), ny = Number(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def render_part(answer: Answer) -> str:
    part = answer.part
    drawn = chart(answer) if part.chart else ""
    data_url = "data:text/csv;charset=utf-8," + urllib.parse.quote(csv_text(answer))
    tools = (f'<div class="tools"><a download="{part.mart}.csv" href="{data_url}">Download CSV '
             f'({len(answer.rows)} rows)</a></div>'
             f'<details><summary>SQL behind this answer (<code>{SCHEMA}.{part.mart}</code>)</summary>'
             f'<pre>{html.escape(model_sql(part.mart))}</pre></details>')
    table = f'<div class="scroll">{html_table(answer)}</div>'
    figure = (f'<figure class="question" data-mart="{part.mart}">{drawn}</figure>' if drawn else "")
    coverage, overall = years_covered(answer), top_overall(answer)
    return (f'<div class="part" data-mart="{part.mart}"><h3>{html.escape(part.title)}</h3>'
            + (f'<p class="coverage">{html.escape(coverage)}</p>' if coverage else "")
            + (f'<p class="answer">{html.escape(overall)}</p>' if overall else "")
            + f'<div class="pair">{figure}<div class="side">{table}{tools}</div></div></div>')


def render_html(answers: list[Answer], *, generated_at: dt.datetime | None = None) -> str:
    """One self-contained HTML page: per question what it answers and how, then per mart a chart
    with its sortable table beside it, a CSV download and the SQL behind it."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    sections = []
    for question in QUESTIONS:
        parts = [a for a in answers if a.question.number == question.number]
        sections.append(
            f'<section id="q{question.number}"><h2>{question.number}. {html.escape(question.title)}</h2>'
            f'<p class="about">{question.about}</p>' + "".join(render_part(a) for a in parts) + "</section>")
    meta = (f"Generated {generated_at:%Y-%m-%d %H:%M:%S} UTC from the marts in the <code>{SCHEMA}</code> schema, "
            "built by dbt from the newest row of each key in <code>pinterest.*_table</code>. "
            "Click a column header to sort.")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Pinterest pipeline — analysis</title><style>{STYLE}</style></head><body>"
            "<h1>Pinterest pipeline — the eight questions</h1>"
            f"<p class=\"meta\">{meta}</p>" + "".join(sections) + f"<script>{SCRIPT}</script></body></html>\n")


def write_report(answers: list[Answer], path: Path) -> Path:
    """Write the page atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(answers), encoding="utf-8")
    tmp.replace(path)
    return path


def default_report_path(settings) -> Path:
    return Path(settings.home) / "reports" / "pinterest-analysis.html"
