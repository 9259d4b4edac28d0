"""Server-rendered SVG charts: the geometry only; templates/insights/_chart.html draws it.

No JavaScript (the strict CSP stays trivial), prints well, and scales with its
viewBox to any width. The data table under each chart is the accessible source;
the SVG itself is one image with a title (role="img").
"""

from dataclasses import dataclass

from .selectors import Figure

WIDTH = 640
LABEL_W = 230
BAR_H = 22
GAP = 8
COLOURS = ["#1f6f43", "#a33b20", "#5a4a9c"]  # attended, no-show, late cancel; dark enough for text contrast


@dataclass
class Bar:
    y: int
    label: str
    width: float
    value: str
    text_y: int


@dataclass
class Series:
    name: str
    colour: str
    points: str  # "x,y x,y" for <polyline>
    dots: list[tuple[float, float]]


def bars(figure: Figure) -> dict:
    """Horizontal bars: the first rate of each row; a row with too few shows no bar and says so."""
    span = WIDTH - LABEL_W - 150
    out = []
    for i, row in enumerate(figure.chart_rows):
        rate = row.rates[0]
        y = i * (BAR_H + GAP)
        pct = rate.percent
        out.append(
            Bar(
                y=y,
                label=row.label if len(row.label) <= 34 else row.label[:33] + "\u2026",
                width=0 if pct is None else round(span * pct / 100, 1),
                value="too few to tell" if pct is None else f"{pct:g}%",
                text_y=y + BAR_H - 6,
            )
        )
    height = max(len(out), 1) * (BAR_H + GAP)
    return {
        "kind": "bars",
        "bars": out,
        "height": height,
        "label_w": LABEL_W,
        "width": WIDTH,
        "measure": figure.measures[0],
    }


def weeks(figure: Figure) -> dict:
    """One line per measure over the weeks, 0-100 %; weeks with too few sessions leave a gap in the dots."""
    height, top, left, bottom = 220, 10, 40, 30
    plot_w, plot_h = WIDTH - left - 10, height - top - bottom
    rows = figure.chart_rows
    n = len(rows)
    step = plot_w / max(n - 1, 1)
    series = []
    for m, name in enumerate(figure.measures):
        dots = []
        for i, row in enumerate(rows):
            pct = row.rates[m].percent
            if pct is not None:
                dots.append((round(left + i * step, 1), round(top + plot_h * (1 - pct / 100), 1)))
        series.append(Series(name, COLOURS[m % len(COLOURS)], " ".join(f"{x},{y}" for x, y in dots), dots))
    grid = [(round(top + plot_h * (1 - p / 100), 1), f"{p}%") for p in (0, 25, 50, 75, 100)]
    return {
        "kind": "weeks",
        "series": series,
        "grid": grid,
        "height": height,
        "width": WIDTH,
        "left": left,
        "right": WIDTH - 10,
        "first": rows[0].label if rows else "",
        "last": rows[-1].label if rows else "",
        "base_y": height - 8,
    }


def chart_for(figure: Figure) -> dict | None:
    if not figure.chart_rows:
        return None
    return weeks(figure) if figure.chart == "weeks" else bars(figure)
