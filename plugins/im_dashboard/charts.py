"""The dashboard's charts, drawn on the server as inline SVG (no script, nothing fetched): a
trend of one or more series over the period's buckets, and a bar split into its parts.

Each chart carries its own text alternative (an ``aria-label`` and an SVG ``title`` stating
the values), so that the figures are readable without seeing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

#: The colours of a chart's series, in order.
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626")
_WIDTH, _HEIGHT, _PAD = 320, 120, 4


@dataclass(frozen=True)
class Series:
    """A named line of a trend: a value per bucket (``None``: nothing to show there)."""

    label: str
    values: Sequence[float | int | None]


def trend(series: Sequence[Series], label: str) -> Markup:
    """The series as lines over the period (a dot for a lone point), scaled to the largest
    value; ``label`` names the chart for readers who do not see it."""
    largest = max((v for s in series for v in s.values if v is not None), default=0) or 1
    count = max((len(s.values) for s in series), default=0)
    step = (_WIDTH - 2 * _PAD) / max(count - 1, 1)

    def point(index: int, value: float) -> tuple[float, float]:
        x = _PAD + index * step
        y = _HEIGHT - _PAD - (value / largest) * (_HEIGHT - 2 * _PAD)
        return x, y

    shapes: list[Markup] = [
        Markup('<line x1="0" y1="{y}" x2="{w}" y2="{y}" class="axis"/>').format(
            y=_HEIGHT - _PAD, w=_WIDTH
        )
    ]
    for number, line in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        for run in _runs(line.values):
            points = [point(index, value) for index, value in run]
            if len(points) == 1:
                x, y = points[0]
                shapes.append(
                    Markup('<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{c}"/>').format(
                        x=x, y=y, c=colour
                    )
                )
            else:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                shapes.append(
                    Markup(
                        '<polyline points="{p}" fill="none" stroke="{c}" stroke-width="2"/>'
                    ).format(p=path, c=colour)
                )
    return Markup(
        '<svg class="trend" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" '
        'aria-label="{label}"><title>{label}</title>{shapes}</svg>'
    ).format(w=_WIDTH, h=_HEIGHT, label=label, shapes=Markup("").join(shapes))


def split(parts: Sequence[tuple[str, int]], label: str) -> Markup:
    """A bar split into ``(name, value)`` parts, each as wide as its share."""
    total = sum(value for _, value in parts)
    rects: list[Markup] = []
    x = 0.0
    for number, (name, value) in enumerate(parts):
        if value <= 0 or not total:
            continue
        width = value * 100.0 / total
        rects.append(
            Markup(
                '<rect x="{x:.3f}" y="0" width="{w:.3f}" height="10" fill="{c}">'
                "<title>{name}: {value}</title></rect>"
            ).format(x=x, w=width, c=PALETTE[number % len(PALETTE)], name=name, value=value)
        )
        x += width
    return Markup(
        '<svg class="split" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        'aria-label="{label}"><title>{label}</title>'
        '<rect x="0" y="0" width="100" height="10" fill="#dde1e8"/>{rects}</svg>'
    ).format(label=label, rects=Markup("").join(rects))


def _runs(
    values: Sequence[float | int | None],
) -> list[list[tuple[int, float]]]:
    """The stretches of ``values`` without a gap, each as (index, value) pairs."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((index, float(value)))
    if current:
        runs.append(current)
    return runs
