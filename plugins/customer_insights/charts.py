"""Charts drawn on the server as inline SVG (no script, nothing fetched from elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

# A circle of this radius has a circumference of 100, so dash lengths read as percentages.
_RADIUS = 15.915494309189533
_EMPTY_COLOUR = "#dde1e8"


def donut(segments: Sequence[tuple[int, str]], label: str, *, size: int = 96) -> Markup:
    """A donut of ``(value, colour)`` segments clockwise from twelve o'clock.

    ``label`` is the chart's text alternative (its accessible name and SVG title), so it should
    state every value. With nothing to show the ring is drawn empty.
    """
    total = sum(value for value, _ in segments)
    rings = [_ring(_EMPTY_COLOUR, 100.0, 0.0)]
    start = 0.0
    for value, colour in segments:
        if value <= 0:
            continue
        share = value * 100.0 / total
        rings.append(_ring(colour, share, start))
        start += share
    return Markup(
        '<svg class="donut" width="{size}" height="{size}" viewBox="0 0 42 42" role="img" '
        'aria-label="{label}"><title>{label}</title>{rings}</svg>'
    ).format(size=size, label=label, rings=Markup("").join(rings))


def _ring(colour: str, share: float, start: float) -> Markup:
    # The dash starts at three o'clock; an offset of 25 moves it to twelve.
    return Markup(
        '<circle cx="21" cy="21" r="{radius}" fill="none" stroke="{colour}" stroke-width="6" '
        'stroke-dasharray="{share:.3f} {rest:.3f}" stroke-dashoffset="{offset:.3f}"/>'
    ).format(radius=_RADIUS, colour=colour, share=share, rest=100.0 - share, offset=25.0 - start)


def bar(segments: Sequence[tuple[int, str]], label: str, *, width: int = 200) -> Markup:
    """A horizontal bar split into ``(value, colour)`` segments, left to right.

    ``label`` is the chart's text alternative, as for :func:`donut`; with nothing to show the
    bar is drawn empty.
    """
    total = sum(value for value, _ in segments)
    parts = [
        Markup('<rect x="0" y="0" width="100" height="8" fill="{colour}"/>').format(
            colour=_EMPTY_COLOUR
        )
    ]
    start = 0.0
    for value, colour in segments:
        if value <= 0:
            continue
        share = value * 100.0 / total
        parts.append(
            Markup(
                '<rect x="{start:.3f}" y="0" width="{share:.3f}" height="8" fill="{colour}"/>'
            ).format(start=start, share=share, colour=colour)
        )
        start += share
    return Markup(
        '<svg class="bar" width="{width}" height="12" viewBox="0 0 100 8" '
        'preserveAspectRatio="none" role="img" aria-label="{label}"><title>{label}</title>'
        "{parts}</svg>"
    ).format(width=width, label=label, parts=Markup("").join(parts))
