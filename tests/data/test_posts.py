"""Cleaning newsgroup posts: headers out (subject kept), quotes, attributions and signatures out."""

from __future__ import annotations

from selfsim.data.posts import PostCleaning, clean_post, split_headers

POST = """From: someone@example.edu (Some One)
Subject: Re: Which graphics card for X11?
Organization: A University
Lines: 12

In article <1993Apr1.123@host.edu> other@host.edu writes:
> I need a card that works with X11 on a 386.
> Any advice?

The ATI Ultra works well with XFree86, in my experience.
It costs about 300 dollars.

--
Some One, Department of Physics
"""


def test_clean_post_keeps_subject_and_own_words() -> None:
    cleaned = clean_post(POST)
    assert cleaned.splitlines()[0] == "Re: Which graphics card for X11?"
    assert "ATI Ultra works well" in cleaned and "300 dollars" in cleaned
    for gone in ("From:", "Organization", "Lines", "writes:", "I need a card", "Department of Physics"):
        assert gone not in cleaned


def test_options_and_plain_text() -> None:
    kept = clean_post(POST, PostCleaning(strip_quotes=False, strip_signature=False, headers=()))
    assert "I need a card" in kept and "Department of Physics" in kept and "Which graphics" not in kept
    assert clean_post(POST, PostCleaning(max_words=3)).count(" ") == 2
    assert clean_post("just a sentence: with a colon") == "just a sentence: with a colon"
    headers, body = split_headers(POST)
    assert headers["subject"].startswith("Re:") and body.startswith("In article")
