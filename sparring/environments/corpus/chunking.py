"""Split a long text into pieces a prompt can hold, at the most natural boundary that fits.

A cut goes at the latest paragraph break that keeps the piece within `chunk_chars`; failing that,
at the latest sentence end, then line break, then any whitespace; a single word longer than the
limit is cut mid-word. Cuts that would leave a piece (or the rest of the text) shorter than
`min_chars` are avoided while another cut exists, so little text is lost to the `min_chars` filter.
Deterministic, no tokenizer: limits are in characters, which is what a prompt budget is set in here.
"""

from __future__ import annotations

import bisect
import re

# Boundaries from most to least natural. A match is the separator between two pieces; it is dropped.
_BREAKS = (
    re.compile(r"\n\n+"),                                       # paragraph
    re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))[ \t\n]+"),   # sentence end (after closing quotes)
    re.compile(r"[ \t]*\n[ \t]*"),                              # line break
    re.compile(r"\s+"),                                         # any whitespace
)


def normalise(text: str) -> str:
    """Unix newlines, no trailing spaces on lines, at most one blank line in a row, stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def chunk_text(text: str, chunk_chars: int, min_chars: int = 0) -> list[str]:
    """Pieces of `text` of at most `chunk_chars` characters; pieces under `min_chars` are dropped.

    A final piece under `min_chars` is merged into the previous one when the two fit together.
    """
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be positive, got {chunk_chars}")
    if not 0 <= min_chars <= chunk_chars:
        raise ValueError(f"min_chars must be in [0, chunk_chars={chunk_chars}], got {min_chars}")
    text = normalise(text)
    breaks = [[(m.start(), m.end()) for m in pattern.finditer(text)] for pattern in _BREAKS]
    pieces, start = [], 0
    while len(text) - start > chunk_chars:
        cut, resume = _cut(text, breaks, start, chunk_chars, min_chars)
        pieces.append(text[start:cut].strip())
        start = resume
    pieces.append(text[start:].strip())
    if len(pieces) > 1 and len(pieces[-1]) < min_chars:
        merged = pieces[-2] + "\n\n" + pieces[-1]
        if len(merged) <= chunk_chars:
            pieces[-2:] = [merged]
    return [p for p in pieces if p and len(p) >= min_chars]


def _cut(text: str, breaks: list[list[tuple[int, int]]], start: int, limit: int, min_chars: int) -> tuple[int, int]:
    """(end of this piece, start of the next) for the piece beginning at `start`."""
    for strict in (True, False):
        for matches in breaks:
            lo = bisect.bisect_right(matches, (start, len(text)))      # separators starting after `start`
            hi = bisect.bisect_right(matches, (start + limit, len(text)))  # ... and at most `limit` later
            for sep_start, sep_end in reversed(matches[lo:hi]):
                if not strict or (sep_start - start >= min_chars and len(text) - sep_end >= min_chars):
                    return sep_start, sep_end
    return start + limit, start + limit
