"""Cleaning e-mail and newsgroup posts before they are embedded or counted.

A post carries much that is not its topic: transport headers (``From:``,
``Path:``, ``Organization:``), quoted text from the message it replies to,
the ``In article <...> someone writes:`` line that introduces the quote, and
a signature. An encoder that reads only the first 256 tokens spends them on
that noise, and keyword statistics learn e-mail addresses. :func:`clean_post`
keeps the subject (and the ``Keywords:``/``Summary:`` headers, which are
written by the author) and the author's own lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^([A-Za-z][A-Za-z0-9\-.]*):\s?(.*)$")
_ATTRIBUTION = re.compile(
    r"(^in article\b.*|.*\b(writes|wrote|said|says)\s*:\s*$|^(>|\|)?\s*in <[^>]+>.*|.*<[^>\s]+@[^>\s]+>\s*$)",
    re.IGNORECASE)
_QUOTE = re.compile(r"^\s*(>|\||:(?!\w)|[A-Za-z]{1,3}>)")
_SIGNATURE = re.compile(r"^(--\s*|-{2,}\s*$|_{5,}\s*$|={5,}\s*$)")


@dataclass(frozen=True)
class PostCleaning:
    """What :func:`clean_post` keeps.

    ``headers`` are the header fields kept (case-insensitive) and written first,
    as ``Value`` lines; ``max_words`` cuts the result, since encoders truncate
    anyway and tokenising text that is thrown away costs time.
    """

    headers: tuple[str, ...] = ("subject", "keywords", "summary")
    strip_quotes: bool = True
    strip_signature: bool = True
    max_words: int | None = None


def split_headers(text: str) -> tuple[dict[str, str], str]:
    """Split a post into its header fields (lower-cased names) and its body.

    A text whose first lines are not ``Name: value`` headers has no headers and is all body.
    """
    lines = text.split("\n")
    headers: dict[str, str] = {}
    position = 0
    last: str | None = None
    while position < len(lines):
        line = lines[position]
        if not line.strip():
            break
        match = _HEADER.match(line)
        if match:
            last = match.group(1).lower()
            headers[last] = match.group(2).strip()
        elif last is not None and line[:1] in (" ", "\t"):  # a folded header continues
            headers[last] += " " + line.strip()
        else:
            return {}, text  # not a header block after all
        position += 1
    if not headers:
        return {}, text
    return headers, "\n".join(lines[position + 1:])


def clean_post(text: str, config: PostCleaning = PostCleaning()) -> str:
    """The author's words of a post: the kept headers, then the body without quotes and signature."""
    headers, body = split_headers(text)
    kept = [headers[name] for name in config.headers if headers.get(name)]
    lines: list[str] = []
    for line in body.split("\n"):
        if config.strip_signature and _SIGNATURE.match(line) and lines:
            break  # everything after a signature separator is the signature
        if config.strip_quotes and (_QUOTE.match(line) or _ATTRIBUTION.match(line.strip())):
            continue
        lines.append(line)
    cleaned = "\n".join(kept + [re.sub(r"[ \t]+", " ", line).strip() for line in lines])
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    if config.max_words is not None:
        words = cleaned.split(" ")
        if len(words) > config.max_words:
            cleaned = " ".join(words[:config.max_words])
    return cleaned or text.strip()
