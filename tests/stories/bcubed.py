"""B-cubed precision, recall and F1 of a clustering against gold labels (Bagga & Baldwin).

For each item: precision is the share of its predicted cluster that shares its gold label,
recall the share of its gold cluster that shares its predicted cluster; both are averaged over
items. Unlike pairwise scores, one large wrong merge costs every item it touches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BCubed:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def bcubed(gold: Mapping[str, str], predicted: Mapping[str, str]) -> BCubed:
    """Score ``predicted`` (item -> cluster) against ``gold`` (item -> label), same items."""
    if set(gold) != set(predicted):
        raise ValueError("gold and predicted must label the same items")
    pairs = Counter((gold[i], predicted[i]) for i in gold)
    gold_sizes, predicted_sizes = Counter(gold.values()), Counter(predicted.values())
    precision = recall = 0.0
    for (label, cluster), together in pairs.items():
        precision += together * together / predicted_sizes[cluster]
        recall += together * together / gold_sizes[label]
    return BCubed(precision / len(gold), recall / len(gold))
