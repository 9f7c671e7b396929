"""The eight analysis answers: how to read them from the ``analytics`` marts, how to print them and
how to draw them as one self-contained HTML page (inline SVG charts, a small inline script that
sorts tables, CSV downloads as data: URLs; nothing loaded from the network).

Used by the ``analytics_report`` asset and by the ``pinterest report`` / ``pinterest demo``
commands. Pure Python + psycopg: no Dagster, no Spark.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import math
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

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


def csv_text(answer: Answer) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(answer.columns)
    for row in answer.rows:
        writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in row])
    return out.getvalue()


# ---------------------------------------------------------------------------------------- charts
WIDTH = 480            # every chart's viewBox width; the SVG scales to its box (width 100%)
FONT = 12


def text_width(text: str, font: float = FONT) -> float:
    """A generous estimate (0.62 em per character), so the real text is never wider."""
    return len(text) * 0.62 * font


def wrap(text: str, width: float, font: float = FONT, sep: str = " ") -> list[str]:
    """Lines of at most `width` px (estimated); a word longer than a line is cut into pieces."""
    per_line = max(1, int(width // (0.62 * font)))
    lines, line = [], ""
    for word in text.split(sep):
        while len(word) > per_line:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:per_line])
            word = word[per_line:]
        candidate = f"{line}{sep}{word}" if line else word
        if len(candidate) <= per_line:
            line = candidate
        else:
            lines.append(line.rstrip())
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def chart_number(column: str, value) -> str:
    """A value as a chart writes it: millions and more compactly (123.5M), the table has it whole."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.1f}".rstrip("0").rstrip(".") + "M"
    return format_value(column, value)


def fitting_font(text: str, width: float, font: float = FONT) -> float:
    """The font size (at most `font`, at least 7) at which `text` fits in `width` px (estimated)."""
    return max(7.0, min(font, width / (0.62 * max(1, len(text)))))


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", size: float | None = None) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}"{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}'
            f'{f" text-anchor={chr(34)}{anchor}{chr(34)}" if anchor != "start" else ""}'
            f'{f" style={chr(34)}font-size:{size:.1f}px{chr(34)}" if size else ""}>{html.escape(text)}</text>')


def _mark(x, y, w, h, key, value, cls="bar", title="") -> str:
    return (f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'data-key="{html.escape(key)}" data-value="{"" if value is None else value}">'
            f'<title>{html.escape(title)}</title></rect>')


def _svg(body: list[str], height: float, label: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {math.ceil(height)}" '
            f'role="img" aria-label="{html.escape(label)}">{"".join(body)}</svg>')


def _key(record: dict, columns: tuple[str, ...]) -> str:
    return " · ".join(format_value(c, record[c]) for c in columns)


def winners_chart(answer: Answer) -> str:
    """Q1: per category, the countries where it is on top alone (solid) and tied (light)."""
    alone: dict[str, int] = {}
    tied: dict[str, int] = {}
    for r in answer.records():
        target = alone if r["tied_categories"] == 1 else tied
        target[r["category"]] = target.get(r["category"], 0) + 1
    categories = sorted(set(alone) | set(tied), key=lambda c: (-(alone.get(c, 0) + tied.get(c, 0)), c))
    top = max((alone.get(c, 0) + tied.get(c, 0) for c in categories), default=0) or 1
    label_w = max([text_width(c) for c in categories] + [60]) + 8
    bar_space = WIDTH - label_w - 80
    body = [f'<g class="legend"><rect class="bar" x="0" y="2" width="10" height="10"/>{_text(14, 11, "on top alone")}'
            f'<rect class="bar tied" x="110" y="2" width="10" height="10"/>{_text(124, 11, "tied at the top")}</g>']
    y = 22
    for c in categories:
        a, t = alone.get(c, 0), tied.get(c, 0)
        body.append(_text(label_w - 6, y + 12, c, "label", "end"))
        wa, wt = bar_space * a / top, bar_space * t / top
        body.append(_mark(label_w, y + 2, wa, 14, f"{c}/alone", a, "bar", f"{c}: top alone in {a} countries"))
        body.append(_mark(label_w + wa, y + 2, wt, 14, f"{c}/tied", t, "bar tied", f"{c}: tied at the top in {t}"))
        body.append(_text(label_w + wa + wt + 4, y + 12, f"{a}" + (f" + {t} tied" if t else ""), "value"))
        y += 20
    if not categories:
        body.append(_text(0, y + 12, "no rows yet", "empty"))
        y += 20
    return _svg(body, y + 4, answer.part.title)


def hbar_chart(answer: Answer) -> str:
    """A bar per key (the first chart_rows of the order): the label (wrapped, never clipped) on the
    line above its bar, the value at the bar's end."""
    part = answer.part
    groups: dict[str, list[dict]] = {}
    for r in answer.records():
        groups.setdefault(_key(r, part.key), []).append(r)
    shown = list(groups.items())[: part.chart_rows]
    top = max((float(rs[0][part.value] or 0) for _, rs in shown), default=0) or 1.0
    body = []
    y = 0.0
    if part.highlight:
        body.append(f'<g class="legend"><rect class="bar accent" x="0" y="2" width="10" height="10"/>'
                    f'{_text(14, 11, "the highest of all (every tied country)")}</g>')
        y = 20
    widest = max((text_width(format_value(part.value, rs[0][part.value])) for _, rs in shown), default=0)
    bar_space = WIDTH - widest - 8
    for key, rows in shown:
        value = rows[0][part.value]
        names = ", ".join(format_value(part.note, r[part.note]) for r in rows) if part.note else ""
        label = f"{key} — {names}" + (f" ({len(rows)} tied)" if len(rows) > 1 else "") if names else key
        for line in wrap(label, WIDTH):
            body.append(_text(2, y + 12, line, "label"))
            y += 15
        shown_value = format_value(part.value, value)
        width = max(1.0, bar_space * float(value or 0) / top)
        accent = " accent" if part.highlight and rows[0].get(part.highlight) else ""
        body.append(_mark(0, y + 1, width, 12, key, value, "bar" + accent, f"{label}: {shown_value}"))
        body.append(_text(width + 4, y + 11, shown_value, "value"))
        y += 20
    if not shown:
        body.append(_text(0, y + 14, "no rows yet", "empty"))
        y += 20
    if len(groups) > len(shown):
        body.append(_text(0, y + 12, f"{len(shown)} of {len(groups)} shown (by {part.order_by}); all in the table",
                          "note"))
        y += 18
    return _svg(body, y + 4, part.title)


def columns_chart(answer: Answer) -> str:
    """A column per key in order (years left to right): the value above, the key and the note
    (tied categories, wrapped) below; an empty key says so; * marks an interpolated median."""
    part = answer.part
    groups: dict[str, list[dict]] = {}
    for r in answer.records():
        groups.setdefault(_key(r, part.key), []).append(r)
    n = max(1, len(groups))
    slot = WIDTH / n
    plot_h, top_pad = 140.0, 18.0
    top = max((float(rs[0][part.value] or 0) for rs in groups.values()), default=0) or 1.0
    notes = {k: wrap(" = ".join(format_value(part.note, r[part.note]) for r in rs if r[part.note] is not None),
                     slot - 6, 11, sep=" ") if part.note else [] for k, rs in groups.items()}
    note_lines = max((len(v) for v in notes.values()), default=0)
    body = []
    base = top_pad + plot_h
    body.append(f'<line class="axis" x1="0" x2="{WIDTH}" y1="{base}" y2="{base}"/>')
    for i, (key, rows) in enumerate(groups.items()):
        value = rows[0][part.value]
        interpolated = bool(rows[0].get("is_interpolated"))
        cx = slot * i + slot / 2
        w = min(56.0, slot * 0.6)
        h = plot_h * float(value or 0) / top
        empty = value is None or bool(part.has_data and not rows[0].get(part.has_data))
        shown = "no pins" if value is None else chart_number(part.value, value) + (" *" if interpolated else "")
        body.append(_mark(cx - w / 2, base - h, w, h, key, value, "bar" + (" interpolated" if interpolated else ""),
                          f"{key}: {format_value(part.value, value) or 'no pins'}"))
        body.append(_text(cx, base - h - 4, shown, "value" + (" empty" if empty else ""), "middle",
                          fitting_font(shown, slot - 4)))
        body.append(_text(cx, base + 14, key, "label", "middle", fitting_font(key, slot - 4)))
        for j, line in enumerate(notes.get(key, [])):
            body.append(_text(cx, base + 28 + 13 * j, line, "note", "middle"))
    return _svg(body, base + 20 + 13 * note_lines + 6, part.title)


def heatmap_chart(answer: Answer) -> str:
    """Rows x columns (the key's two columns), the value in each cell, shaded by size; * marks an
    interpolated median, an empty cell has no data."""
    part = answer.part
    row_col, col_col = part.key
    records = answer.records()
    rows = list(dict.fromkeys(format_value(row_col, r[row_col]) for r in records))
    cols = sorted(dict.fromkeys(r[col_col] for r in records), key=lambda v: (v is None, v))
    cells = {(format_value(row_col, r[row_col]), r[col_col]): r for r in records}
    top = max((float(r[part.value] or 0) for r in records), default=0) or 1.0
    label_w = max([text_width(r) for r in rows] + [40]) + 8
    cell_w = (WIDTH - label_w) / max(1, len(cols))
    cell_h = 22
    body = [_text(label_w + cell_w * j + cell_w / 2, 12, format_value(col_col, c), "label", "middle",
                  fitting_font(format_value(col_col, c), cell_w - 4)) for j, c in enumerate(cols)]
    for i, row in enumerate(rows):
        y = 18 + i * cell_h
        body.append(_text(label_w - 6, y + 15, row, "label", "end"))
        for j, c in enumerate(cols):
            r = cells.get((row, c))
            value = r[part.value] if r else None
            interpolated = bool(r and r.get("is_interpolated"))
            level = float(value or 0) / top
            x = label_w + cell_w * j
            body.append(f'<rect class="cell" x="{x + 1:.1f}" y="{y + 1:.1f}" width="{cell_w - 2:.1f}" '
                        f'height="{cell_h - 2}" style="fill-opacity:{0.06 + 0.8 * level:.2f}" '
                        f'data-key="{html.escape(row)}/{c}" data-value="{"" if value is None else value}">'
                        f'<title>{html.escape(row)} · {c}: {format_value(part.value, value) or "no data"}</title></rect>')
            shown = chart_number(part.value, value) + ("*" if interpolated else "")
            if shown:
                body.append(_text(x + cell_w / 2, y + 15, shown, "cellvalue" + (" dark" if level > 0.55 else ""),
                                  "middle", fitting_font(shown, cell_w - 6, 11)))
    return _svg(body, 18 + len(rows) * cell_h + 4, part.title)


CHARTS = {"winners": winners_chart, "hbar": hbar_chart, "columns": columns_chart, "heatmap": heatmap_chart}


def chart(answer: Answer) -> str:
    if not answer.rows:
        return _svg([_text(2, 16, "no rows yet", "empty")], 24, answer.part.title)
    return CHARTS[answer.part.chart](answer)


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
