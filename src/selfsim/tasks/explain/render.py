"""Showing an explanation: table rows, summary lines, highlighted terminal text and an HTML fragment.

Everything here is pure (an :class:`~selfsim.tasks.explain.explanation.Explanation`
in, text out), so the command line and the web page show the same thing. Colour
says the sign (green pushed the score up, red pulled it down) and its strength
says how much, relative to the feature that moved the score most. Features that
are not spans of a text (the items of a history) are shown one after another.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from selfsim.tasks.explain.explanation import Explanation, Feature

TABLE_COLUMNS = ("feature", "side", "Shapley value", "occlusion")
_POSITIVE = (0, 170, 0)
_NEGATIVE = (210, 0, 0)
_WHITE = (255, 255, 255)
_TABLE_TEXT = 100  # characters of a feature's text in a table row


def value_text(feature: Feature, digits: int = 4) -> str:
    """The Shapley value with its standard error when sampled: ``+0.1234 ± 0.0050``."""
    shown = f"{feature.value:+.{digits}f}"
    return shown if feature.standard_error is None else f"{shown} ± {feature.standard_error:.{digits}f}"


def table_rows(explanation: Explanation, digits: int = 4) -> list[tuple[str, str, str, str]]:
    """One row per feature, most positive first, in the order of :data:`TABLE_COLUMNS` (plain, unescaped text)."""
    rows = []
    for feature in explanation.ranked():
        text = " ".join(feature.text.split())
        text = text if len(text) <= _TABLE_TEXT else text[:_TABLE_TEXT - 1] + "…"
        rows.append((text, feature.side, value_text(feature, digits), f"{feature.occlusion:+.{digits}f}"))
    return rows


def summary_lines(explanation: Explanation) -> list[str]:
    """What to print under the table: the efficiency check, exact or sampled, the notes, occlusion's verdict."""
    total = sum(f.value for f in explanation.features)
    lines = [f"values add up to {total:.4f} = score {explanation.full:.4f} − empty {explanation.empty:.4f} "
             f"(gap {explanation.efficiency_gap:.1g})"]
    if explanation.exact:
        lines.append(f"exact: every one of the {explanation.coalitions:,} coalitions of "
                     f"{len(explanation.features)} features was scored")
    else:
        lines.append(f"sampled: {explanation.permutations} permutations, standard errors shown "
                     f"({explanation.coalitions:,} coalitions scored)")
    lines += explanation.notes
    if explanation.features:
        top = max(explanation.features, key=lambda f: f.value)
        if explanation.occlusion_agrees:
            lines.append(f"leave-one-out occlusion names the same top feature: {_short(top.text)}")
        else:
            other = max(explanation.features, key=lambda f: f.occlusion)
            lines.append(f"leave-one-out occlusion disagrees: its top feature is {_short(other.text)}, "
                         f"Shapley's is {_short(top.text)}")
    return lines


def sides(explanation: Explanation) -> list[str]:
    """The sides of an explanation's features, in the order they first appear."""
    return list(dict.fromkeys(f.side for f in explanation.features))


def strength(explanation: Explanation, feature: Feature) -> float:
    """``|value|`` relative to the largest ``|value|`` of the explanation, in [0, 1]."""
    largest = max((abs(f.value) for f in explanation.features), default=0.0)
    return abs(feature.value) / largest if largest > 0 else 0.0


def highlight(explanation: Explanation, side: str, escape: Callable[[str], str] | None = None) -> Text:
    """The text of ``side`` with each feature's span on a green (positive) or red (negative) background,
    stronger for larger values; text between spans is plain. ``escape`` is applied to every piece of
    text (the command line passes one that makes control characters visible)."""
    clean = escape or (lambda piece: piece)
    result = Text()
    for piece, feature in _pieces(explanation, side):
        if feature is None:
            result.append(clean(piece))
            continue
        level = strength(explanation, feature)
        red, green, blue = _blend(_POSITIVE if feature.value >= 0 else _NEGATIVE, level)
        result.append(clean(piece), Style(color="black", bgcolor=f"rgb({red},{green},{blue})") if level else None)
    return result


def html_fragment(explanation: Explanation, side: str) -> str:
    """A self-contained ``<div class="selfsim-explain">`` of the text of ``side``: each feature a ``<mark>``
    whose background says its sign and strength and whose title holds its value (± standard error).

    Every piece of text is escaped; colours are inline styles, with no scripts and no external resources."""
    parts = [f'<div class="selfsim-explain" data-side="{html.escape(side, quote=True)}">']
    for piece, feature in _pieces(explanation, side):
        if feature is None:
            parts.append(html.escape(piece))
            continue
        red, green, blue = _POSITIVE if feature.value >= 0 else _NEGATIVE
        alpha = round(0.15 + 0.7 * strength(explanation, feature), 3) if feature.value else 0.0
        title = html.escape(f"{value_text(feature)} (occlusion {feature.occlusion:+.4f})", quote=True)
        parts.append(f'<mark style="background: rgba({red}, {green}, {blue}, {alpha})" title="{title}">'
                     f"{html.escape(piece)}</mark>")
    parts.append("</div>")
    return "".join(parts)


def _pieces(explanation: Explanation, side: str) -> list[tuple[str, Feature | None]]:
    """The text of ``side`` cut into spans of features (with their feature) and the text between (None).

    A side with no text (history items) becomes its features' texts separated by spaces.
    """
    features = [f for f in explanation.features if f.side == side]
    source = explanation.texts.get(side)
    spans = sorted((f for f in features if 0 <= f.start <= f.end), key=lambda f: f.start)
    if source is None or len(spans) < len(features):
        pieces: list[tuple[str, Feature | None]] = []
        for position, feature in enumerate(features):
            if position:
                pieces.append((" ", None))
            pieces.append((feature.text, feature))
        return pieces
    pieces, at = [], 0
    for feature in spans:
        if feature.start < at:
            continue  # overlapping spans do not happen with units, but never print text twice
        if feature.start > at:
            pieces.append((source[at:feature.start], None))
        pieces.append((source[feature.start:feature.end], feature))
        at = feature.end
    if at < len(source):
        pieces.append((source[at:], None))
    return pieces


def _blend(colour: tuple[int, int, int], level: float) -> tuple[int, int, int]:
    """``colour`` mixed into white: a faint tint for a weak feature, the full colour for the strongest."""
    weight = 0.25 + 0.75 * level
    return tuple(round(w + (c - w) * weight) for c, w in zip(colour, _WHITE, strict=True))  # type: ignore[return-value]


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit - 1] + "…")
