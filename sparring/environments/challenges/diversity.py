"""How alike a batch of questions is: sentence BLEU, self-BLEU, distinct n-grams, and the BLEU
clustering behind R-Zero's repetition penalty.

No nltk or scikit-learn: the batch is small (tens of questions), so the O(n^3) clustering and a
plain BLEU are clearer than two more dependencies. Definitions, for hand-checking:
- tokens: lower-cased words and single punctuation marks;
- `bleu(hyp, ref)`: geometric mean of modified n-gram precisions for n = 1..min(4, len(hyp)),
  a precision with no match counted as 0.1 / total (smoothing "method1"), times the brevity
  penalty exp(1 - len(ref) / len(hyp)) when hyp is shorter; 0 for an empty side;
- `similarity(a, b)`: (bleu(a, b) + bleu(b, a)) / 2, so distances are symmetric;
- `clusters(texts, threshold)`: agglomerative, average linkage on 1 - similarity, merging the
  closest pair of clusters while their distance is below `threshold` (scikit-learn's
  `distance_threshold` rule; R-Zero uses 0.5).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _ngrams(toks: Sequence[str], n: int) -> Counter:
    return Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def bleu(hypothesis: str, reference: str, max_order: int = 4) -> float:
    """Sentence BLEU of `hypothesis` against one `reference` (see the module docstring)."""
    hyp, ref = tokens(hypothesis), tokens(reference)
    if not hyp or not ref:
        return 0.0
    orders = min(max_order, len(hyp))
    log_sum = 0.0
    for n in range(1, orders + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        total = sum(h.values())
        matches = sum(min(count, r[gram]) for gram, count in h.items())
        log_sum += math.log((matches or 0.1) / total)
    brevity = 1.0 if len(hyp) >= len(ref) else math.exp(1 - len(ref) / len(hyp))
    return brevity * math.exp(log_sum / orders)


def similarity(a: str, b: str) -> float:
    return (bleu(a, b) + bleu(b, a)) / 2


def self_bleu(texts: Sequence[str]) -> float | None:
    """Mean BLEU of each text against each other one (1: all identical); None under two texts."""
    if len(texts) < 2:
        return None
    scores = [bleu(texts[i], texts[j]) for i in range(len(texts)) for j in range(len(texts)) if i != j]
    return sum(scores) / len(scores)


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct n-grams over all n-grams of the batch (1: no n-gram repeats); None: no n-grams."""
    grams = [g for t in texts for g in _ngrams(tokens(t), n).elements()]
    return len(set(grams)) / len(grams) if grams else None


def clusters(texts: Sequence[str], threshold: float = 0.5) -> list[int]:
    """A cluster label per text: average-linkage agglomerative clustering on 1 - similarity."""
    n = len(texts)
    dist = [[0.0 if i == j else 1.0 - similarity(texts[i], texts[j]) for j in range(n)] for i in range(n)]
    groups = [[i] for i in range(n)]
    while len(groups) > 1:
        best, pair = None, None
        for x in range(len(groups)):
            for y in range(x + 1, len(groups)):
                d = sum(dist[i][j] for i in groups[x] for j in groups[y]) / (len(groups[x]) * len(groups[y]))
                if best is None or d < best:
                    best, pair = d, (x, y)
        if best >= threshold:
            break
        x, y = pair
        groups[x] += groups.pop(y)
    labels = [0] * n
    for label, members in enumerate(groups):
        for i in members:
            labels[i] = label
    return labels


def repetition_penalties(texts: Sequence[str], threshold: float = 0.5) -> list[float]:
    """R-Zero's repetition penalty per text: the share of the batch in its BLEU cluster."""
    labels = clusters(texts, threshold)
    sizes = Counter(labels)
    return [sizes[label] / len(texts) for label in labels]
