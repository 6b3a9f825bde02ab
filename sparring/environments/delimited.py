"""Delimited blocks in model text (<tag>...</tag>, fenced code), found in linear time.

`re.findall(r"<a>(.*?)</a>", text)` tries every opening tag against the whole rest of the text,
so a degenerate completion of 40,000 unclosed tags takes about a minute to parse. These scans
find each opener, then the first closer after it, and stop at the first opener without one (no
later opener can have one either): the same blocks as the lazy regex, in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


def _blocks(text: str, opener: re.Pattern, closer: re.Pattern) -> Iterator[tuple[re.Match, re.Match]]:
    pos = 0
    while (start := opener.search(text, pos)) is not None:
        end = closer.search(text, start.end())
        if end is None:
            return
        yield start, end
        pos = end.end()


def contents(text: str, opener: re.Pattern, closer: re.Pattern) -> list[str]:
    """What lies between each opener and the first closer after it, left to right."""
    return [text[start.end():end.start()] for start, end in _blocks(text, opener, closer)]


def without(text: str, opener: re.Pattern, closer: re.Pattern) -> str:
    """`text` less every block, delimiters included (an opener that never closes stays)."""
    kept, pos = [], 0
    for start, end in _blocks(text, opener, closer):
        kept.append(text[pos:start.start()])
        pos = end.end()
    kept.append(text[pos:])
    return "".join(kept)


def tag_pair(name: str, flags: int = re.IGNORECASE) -> tuple[re.Pattern, re.Pattern]:
    """Opener and closer patterns of <name>...</name>."""
    return re.compile(re.escape(f"<{name}>"), flags), re.compile(re.escape(f"</{name}>"), flags)
