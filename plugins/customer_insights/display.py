"""How Customer Insights words its figures: humanised durations, percentages, the happiness split.

Shared by the ticket panel and the Overview tab so that both show a figure the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup

from hostapi import Context
from plugins.customer_insights.metrics import Figures

_SECONDS_PER_UNIT = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))

#: The happiness ratings in the order they are shown, with the bar's colours.
RATING_COLOURS = (("good", "#15803d"), ("okay", "#ca8a04"), ("bad", "#dc2626"))


@dataclass(frozen=True)
class Duration:
    """One average as shown: its words, and its whole seconds for ``data-seconds`` (or None)."""

    text: str
    seconds: int | None


@dataclass(frozen=True)
class Rating:
    """One happiness rating's count and share of the rated tickets."""

    key: str
    label: str
    count: int
    percent: str
    colour: str


def humanise(context: Context, seconds: float | None) -> Duration:
    """``seconds`` in its two largest units, rounded down ("2 h 15 min", "3 d 4 h").

    A second unit of zero is left out ("2 h"); ``None`` (nothing to average) reads "no data".
    """
    _ = context.gettext
    if seconds is None:
        return Duration(_("no data"), None)
    whole = int(seconds)  # rounded down, as the definitions say
    words = {
        "d": lambda n: _("%(count)s d", count=n),
        "h": lambda n: _("%(count)s h", count=n),
        "min": lambda n: _("%(count)s min", count=n),
        "s": lambda n: _("%(count)s s", count=n),
    }
    # The largest unit that fits (seconds for anything under a minute), then the next one.
    index = next(
        i for i, (_unit, size) in enumerate(_SECONDS_PER_UNIT) if whole >= size or size == 1
    )
    unit, size = _SECONDS_PER_UNIT[index]
    parts = [words[unit](whole // size)]
    if index + 1 < len(_SECONDS_PER_UNIT):
        next_unit, next_size = _SECONDS_PER_UNIT[index + 1]
        rest = (whole % size) // next_size
        if rest:
            parts.append(words[next_unit](rest))
    return Duration(" ".join(parts), whole)


def percent(count: int, total: int) -> str:
    """``count`` of ``total`` as a percentage to one decimal, half rounded up ("33.3")."""
    if total == 0:
        return "0.0"
    share = Decimal(count * 100) / Decimal(total)
    return str(share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def ratings(context: Context, figures: Figures) -> list[Rating]:
    """Good, okay and bad: counts and shares of the tickets rated (their latest rating)."""
    _ = context.gettext
    labels = {"good": _("Good"), "okay": _("Okay"), "bad": _("Bad")}
    counts = {"good": figures.rated_good, "okay": figures.rated_okay, "bad": figures.rated_bad}
    return [
        Rating(key, labels[key], counts[key], percent(counts[key], figures.ratings), colour)
        for key, colour in RATING_COLOURS
    ]


def averages(context: Context, figures: Figures) -> dict[str, Duration]:
    """The three averages, humanised, by their ``data-metric`` names."""
    return {
        "first_response": humanise(context, figures.first_response_seconds),
        "response": humanise(context, figures.response_seconds),
        "resolution": humanise(context, figures.resolution_seconds),
    }


def message(text: str) -> Markup:
    """A one-line explanation shown instead of figures."""
    return Markup('<p class="customer-insights empty">{}</p>').format(text)


def preparing(context: Context) -> Markup:
    """What the panel and the Overview say while a backfill counts the customer's tickets."""
    return message(
        context.gettext("Preparing this customer's figures; they appear when the counting is done.")
    )
