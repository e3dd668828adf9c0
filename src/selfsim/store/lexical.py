"""Keyword queries for SQLite FTS5: from a user's words to a MATCH expression.

FTS5 indexes items with the ``porter unicode61`` tokenizer (lower-cased,
accents folded, English suffixes stripped). A query becomes the OR of its
words, so BM25 ranks items by how many and how rare the shared words are;
common English function words are left out because they match nearly every
item, cost time and carry no topic.
"""

from __future__ import annotations

import re

TOKENIZER = "porter unicode61 remove_diacritics 2"

_WORD = re.compile(r"\w+", re.UNICODE)

STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
""".split())


def query_words(query: str) -> list[str]:
    """The words of ``query`` that a keyword search should look for, in order, without repeats."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in STOP_WORDS] or words  # a query of only stop words keeps them
    return list(dict.fromkeys(kept))


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression OR-ing the query's words, or None when it has no words."""
    words = query_words(query)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
