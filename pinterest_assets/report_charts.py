"""The report's cell formatting and its inline SVG charts, one per :class:`pinterest_assets.report.Answer`
(the ``answer`` of every chart function), drawn as its part's ``chart`` says."""

from __future__ import annotations

import datetime as dt
import html
import math

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


def winners_chart(answer) -> str:
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


def hbar_chart(answer) -> str:
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


def columns_chart(answer) -> str:
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


def heatmap_chart(answer) -> str:
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


def chart(answer) -> str:
    if not answer.rows:
        return _svg([_text(2, 16, "no rows yet", "empty")], 24, answer.part.title)
    return CHARTS[answer.part.chart](answer)
