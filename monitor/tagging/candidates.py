"""Choose the watch topics worth evaluating for one article from the probes that fired in it.

In (once, from :mod:`monitor.tagging.index`): per watch topic, the probes of each required
group (each child of its rule). In (per article): the probes that fired. Out: the positions
of the watch topics each of whose required groups has a probe that fired, in ascending
order. A necessary condition only: it never decides a match, never looks at text.

Why arrays: at 10,000 watch topics an article fires about 700 probes, and a probe of an
entity name sits in the required groups of dozens of watch topics. Walking those in Python
(set unions, per-topic look-ups) cost more than scanning the text; here every step runs in
numpy over flat integer arrays:

1. the groups each fired probe belongs to, gathered from one flat array (``probe_groups``,
   cut at ``probe_starts``) in one fancy-indexing step;
2. each group that fired marked once, in a mask over all groups;
3. the watch topics whose groups (numbered consecutively) all fired.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class CandidateTable:
    """Per probe, the required groups it can make fire; per group, its watch topic."""

    __slots__ = ("first_group", "group_topic", "needed", "probe_groups", "probe_starts")

    def __init__(self, required: Sequence[Sequence[Collection[int]]], probes: int) -> None:
        """Index ``required``: per watch topic, per required group, the group's probes.

        ``probes`` is the number of probes (ids run from 0 to ``probes - 1``).
        """
        pairs_probe: list[int] = []
        pairs_group: list[int] = []
        group_topic: list[int] = []
        first_group: list[int] = []
        needed: list[int] = []
        for topic, groups in enumerate(required):
            # A watch topic without required groups has no group to fire: never a candidate.
            needed.append(len(groups))
            first_group.append(len(group_topic))
            for group_probes in groups:
                group = len(group_topic)
                group_topic.append(topic)
                pairs_probe += group_probes
                pairs_group += [group] * len(group_probes)
        by_probe = np.asarray(pairs_probe, dtype=np.int64)
        order = np.argsort(by_probe, kind="stable")
        self.probe_groups: IntArray = np.asarray(pairs_group, dtype=np.int64)[order]
        self.probe_starts: IntArray = np.searchsorted(
            by_probe[order], np.arange(probes + 1, dtype=np.int64)).astype(np.int64)
        self.group_topic: IntArray = np.asarray(group_topic, dtype=np.int64)
        self.first_group: IntArray = np.asarray(first_group, dtype=np.int64)
        self.needed: IntArray = np.asarray(needed, dtype=np.int64)

    def select(self, fired: Collection[int]) -> list[int]:
        """The watch topics each of whose required groups has a probe in ``fired``."""
        if not fired:
            return []
        probes = np.fromiter(fired, dtype=np.int64, count=len(fired))
        starts = self.probe_starts[probes]
        lengths = self.probe_starts[probes + 1] - starts
        total = int(lengths.sum())
        if not total:
            return []
        # The flat positions of every fired probe's groups: each probe's run of ``lengths``
        # consecutive positions from its start.
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        fired_groups = np.zeros(len(self.group_topic), dtype=np.bool_)
        fired_groups[self.probe_groups[offsets + np.arange(total, dtype=np.int64)]] = True
        # Sorted, each group once. A watch topic's groups are numbered consecutively, so all
        # of them fired when its last group is found ``needed - 1`` places after its first.
        groups = np.flatnonzero(fired_groups)
        topics = self.group_topic[groups]
        first = self.first_group[topics]
        back = np.flatnonzero(groups - first == self.needed[topics] - 1)
        before = back - (self.needed[topics[back]] - 1)
        # A negative ``before``: fewer groups fired in all than this topic needs.
        back, before = back[before >= 0], before[before >= 0]
        return topics[back[groups[before] == first[back]]].tolist()  # type: ignore[no-any-return]
