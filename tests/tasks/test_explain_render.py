"""Rendering explanations: table rows, the summary lines, highlighted terminal text and the HTML fragment."""

from __future__ import annotations

import html
import re

from selfsim.tasks.explain.explanation import Explanation, Feature
from selfsim.tasks.explain.render import highlight, html_fragment, sides, summary_lines, table_rows

QUERY = "reset password"
ITEM = "Reset <script>alert(1)</script> here. [red]x stays. Plain tail"


def _explanation(exact: bool = True) -> Explanation:
    error = None if exact else 0.01
    features = [Feature("query", "reset", 0, 5, 0.10, error, 0.12),
                Feature("query", "password", 6, 14, 0.30, error, 0.25),
                Feature("item", "Reset <script>alert(1)</script> here.", 0, 37, 0.20, error, 0.30),
                Feature("item", "[red]x stays.", 38, 51, -0.05, error, -0.02)]
    return Explanation("search", "cosine of <b>", features, 0.75, 0.20, exact, 0 if exact else 16, 16, 0.01,
                       {"query": QUERY, "item": ITEM}, ["2 words were merged"])


def test_rows_are_ranked_and_carry_standard_errors_when_sampled() -> None:
    rows = table_rows(_explanation(exact=False))
    assert [row[0] for row in rows][:2] == ["password", "Reset <script>alert(1)</script> here."]
    assert rows[0] == ("password", "query", "+0.3000 ± 0.0100", "+0.2500")
    assert table_rows(_explanation())[0][2] == "+0.3000"


def test_summary_checks_efficiency_and_says_how_values_were_computed() -> None:
    lines = summary_lines(_explanation())
    assert lines[0] == "values add up to 0.5500 = score 0.7500 − empty 0.2000 (gap 0)"
    assert lines[1].startswith("exact:") and "2 words were merged" in lines
    assert "occlusion disagrees" in lines[-1]  # Shapley's top is 'password', occlusion's is the item sentence
    sampled = summary_lines(_explanation(exact=False))
    assert sampled[1].startswith("sampled: 16 permutations, standard errors shown")


def test_highlight_colours_spans_by_sign_and_strength_and_keeps_the_text() -> None:
    explanation = _explanation()
    text = highlight(explanation, "item")
    assert text.plain == ITEM and sides(explanation) == ["query", "item"]
    backgrounds = {text.plain[span.start:span.end]: span.style.bgcolor.get_truecolor()  # type: ignore[union-attr]
                   for span in text.spans}
    assert set(backgrounds) == {"Reset <script>alert(1)</script> here.", "[red]x stays."}  # the rest is plain
    green, red = backgrounds["Reset <script>alert(1)</script> here."], backgrounds["[red]x stays."]
    assert green.green > green.red and red.red > red.green
    strongest = highlight(explanation, "query").spans[1].style.bgcolor.get_truecolor()  # type: ignore[union-attr]
    assert strongest.red < green.red  # 'password' moved the score most: the deepest green
    escaped = highlight(explanation, "query", escape=str.upper)
    assert escaped.plain == QUERY.upper()


def test_html_fragment_is_escaped_and_self_contained() -> None:
    fragment = html_fragment(_explanation(exact=False), "item")  # strength: |value| over the largest, 0.30
    assert fragment.startswith('<div class="selfsim-explain" data-side="item">') and fragment.endswith("</div>")
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert fragment.count("<mark ") == 2 and "rgba(0, 170, 0, 0.617)" in fragment and "rgba(210, 0, 0," in fragment
    assert 'title="+0.2000 ± 0.0100 (occlusion +0.3000)"' in fragment and "Plain tail</div>" in fragment
    assert html.unescape(re.sub(r"<[^>]+>", "", fragment)) == ITEM


def test_features_without_spans_are_shown_one_after_another() -> None:
    history = Explanation("recommend", "score", [Feature("history", "a<1", -1, -1, 0.4, None, 0.4),
                                                  Feature("history", "b", -1, -1, -0.1, None, -0.1)],
                          0.3, 0.0, True, 0, 4, 0.0)
    assert highlight(history, "history").plain == "a<1 b"
    assert html.unescape(re.sub(r"<[^>]+>", "", html_fragment(history, "history"))) == "a<1 b"
