"""Decide which watch topics one scanned article matches, with score and evidence.

In: an :class:`~monitor.tagging.index.Index` and an article's title and text. Out:
:func:`match_article`'s list of :class:`~monitor.tagging.results.TopicMatch`, best first.
Only candidates are evaluated: the watch topics each of whose required groups had a probe
fire (:func:`candidates`), and of those, for the common rule shape, only the ones whose
leaves share a paragraph, then a sentence (:class:`WindowFilter`). Both are necessary
conditions only: what matches, its score and evidence come from :class:`Evaluation` alone.
No I/O, no clock, no logging of text; it never changes the index.

Rule semantics, in order:

- the title is its own window (sentence, paragraph, run of words) and never combines with the
  text; an ``article`` window is the title and the text together;
- a group with its own ``within`` fires in a window when it fires in an overlapping window of
  its own kind (``article`` and ``title``: anywhere in that scope);
- a window counts when the rule fires in it and no veto (``none``) does; a veto with
  ``within: article`` or ``title`` rejects the whole article;
- score = ``title_weight`` if the title counts, plus 1 for each text window that counts
  (runs of N words: non-overlapping ones; windows that hold the rule only through a group
  with a coarser ``within``: once per paragraph); a watch topic matches when
  score >= ``threshold``;
- results are ordered by score, highest first, then by watch topic id.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable

from monitor.tagging.index import Index
from monitor.tagging.results import Evidence, TopicMatch
from monitor.tagging.rules import Group, Term, WatchTopic, Within
from monitor.tagging.scan import FIELDS, Hit, Scan
from monitor.tagging.windows import PARAGRAPH, RANK, ArticleWindows, Windows, overlap

MAX_EVIDENCE = 50
MAX_SENTENCES = 10


def match_article(index: Index, title: str, text: str) -> list[TopicMatch]:
    """Return the watch topics the article matches, best first (score, then id)."""
    scan = Scan(index, title, text)
    if not scan.fired:
        return []
    windows = ArticleWindows(scan.fields)
    check = WindowFilter(scan, windows)
    simple, shapes, topics = index.simple, index.window_leaves, index.watch_topics
    out = []
    for position in candidates(index, scan.fired):
        topic = topics[position]
        shape = shapes[position]
        if shape is not None:
            kind, leaves = shape
            # Sentences never cross paragraphs, and paragraphs are much cheaper to cut:
            # most sentence-window candidates are rejected before sentences are cut.
            if not check.together(leaves, "paragraph") or (
                    kind == "sentence" and not check.together(leaves, kind)):
                continue
        elif not simple[position] and not scan.anywhere(topic.rule):
            continue
        found = Evaluation(scan, windows, topic).result()
        if found is not None:
            out.append(found)
    out.sort(key=lambda m: (-m.score, m.topic_id))
    return out


def candidates(index: Index, fired: Collection[int]) -> list[int]:
    """The watch topics each of whose required groups has a leaf with a probe that fired."""
    return index.candidates.select(fired)


class WindowFilter:
    """Which sentences or paragraphs hold a hit of a leaf, as bits; cached per article.

    At 10,000 watch topics an article has dozens of candidates sharing a few hundred leaves
    and probes, so each mask is computed once per window kind, and a check that is
    answered from the caches makes no further calls.
    """

    def __init__(self, scan: Scan, windows: ArticleWindows) -> None:
        self.scan = scan
        self.windows = windows
        self._fired = scan.fired.keys()
        # Per window kind: leaf -> mask, probe -> mask.
        self._masks: dict[str, dict[int, int]] = {"sentence": {}, "paragraph": {}}
        self._probe_masks: dict[str, dict[int, int]] = {"sentence": {}, "paragraph": {}}
        self._starts: dict[str, list[int]] = {}

    def together(self, leaves: Iterable[int], kind: str) -> bool:
        """Whether one sentence or paragraph (or the title) holds a hit of every leaf."""
        masks = self._masks[kind]
        mask = -1
        for leaf in leaves:
            found = masks.get(leaf)
            if found is None:
                found = self.leaf_windows(leaf, kind)
            mask &= found
            if not mask:
                return False
        return True

    def leaf_windows(self, leaf: int, kind: str) -> int:
        """The sentences or paragraphs holding a hit of ``leaf``, as bits (bit 0: the title).

        The bits are those :meth:`Windows.of` gives the leaf's hits; -1 (every window) for
        a leaf whose hits start where only :meth:`Scan.positions` can tell. Each probe's
        bits are kept too: many leaves share a probe (an entity's names).
        """
        masks = self._masks[kind]
        mask = masks.get(leaf)
        if mask is not None:
            return mask
        probe_masks = self._probe_masks[kind]
        index, fired = self.scan.index, self.scan.fired
        mask = 0
        for probe in self._fired & index.leaf_sets[leaf]:
            found = probe_masks.get(probe)
            if found is None:
                offset = index.probe_back[probe]
                if offset < 0:
                    found = -1
                else:
                    starts = self._starts.get(kind)
                    if starts is None:
                        starts = self._starts[kind] = self.windows.starts(kind)
                    found = 0
                    for raw in fired[probe]:
                        if raw < 0:
                            found |= 1
                        else:
                            window = bisect_right(starts, raw - offset)
                            if window:
                                found |= 1 << window
                probe_masks[probe] = found
            if found == -1:
                mask = -1
                break
            mask |= found
        masks[leaf] = mask
        return mask


def coarser_inside(group: Group, within: Within) -> bool:
    """Whether a group under ``group`` sets a coarser ``within`` than ``within``."""
    return any(node.within is not None
               and RANK.get(node.within.kind, 0) > RANK.get(within.kind, 0)
               for node in group.walk())


class Evaluation:
    """One watch topic against one article: window sets, score, evidence."""

    def __init__(self, scan: Scan, windows: ArticleWindows, topic: WatchTopic) -> None:
        self.scan = scan
        self.article_windows = windows
        self.topic = topic
        self._leaf_hits: dict[int, list[tuple[Term, Hit]]] = {}
        self._sets: dict[tuple[int, str, bool], set[int]] = {}
        self._local = False
        self._universe: dict[str, set[int]] = {}
        self.leaves: list[tuple[Group, Within]] = []
        self._collect(topic.rule, topic.within, self.leaves)
        self._positive_hits: list[Hit] | None = None

    @property
    def _positive(self) -> list[Hit]:
        """Every hit of the rule's terms and entities (not of its vetoes)."""
        if self._positive_hits is None:
            self._positive_hits = [h for g, _ in self.leaves for _, h in self.hits(g)]
        return self._positive_hits

    def _collect(self, group: Group, within: Within, out: list[tuple[Group, Within]]) -> None:
        within = group.within or within
        if group.kind in ("terms", "entity"):
            out.append((group, within))
        for child in group.children:
            self._collect(child, within, out)

    def hits(self, group: Group) -> list[tuple[Term, Hit]]:
        """Every occurrence of a ``terms`` or ``entity`` group (none for other kinds)."""
        if group.kind not in ("terms", "entity"):
            return []
        found = self._leaf_hits.get(id(group))
        if found is None:
            found = self._leaf_hits[id(group)] = self.scan.leaf_hits(group)
        return found

    def windows(self, within: Within) -> Windows:
        """The windows of a kind; ``words`` windows are anchored on the rule's hits."""
        if within.kind != "words":
            return self.article_windows.of_kind(within)
        return self.article_windows.words(self.topic.id, within, self._positive)

    def universe(self, within: Within) -> set[int]:
        """Windows of a kind that hold at least one hit of the watch topic's rule."""
        key = str(within)
        found = self._universe.get(key)
        if found is None:
            windows = self.windows(within)
            found = self._universe[key] = {w for h in self._positive for w in windows.of(h)}
        return found

    def fired(self, group: Group, within: Within) -> set[int]:
        """Windows (of ``within``'s kind) in which ``group`` fires."""
        own = group.within or within
        if self._local and RANK.get(own.kind, 0) > RANK.get(within.kind, 0):
            own = within  # see ``counted``: a coarser group must fire in the window itself
        if own != within:
            return self._convert(self.fired(group, own), own, within)
        key = (id(group), str(within), self._local)
        found = self._sets.get(key)
        if found is not None:
            return found
        kind = group.kind
        if kind in ("terms", "entity"):
            windows = self.windows(within)
            hits = self.hits(group)
            if group.at_least <= 1:
                found = {w for _, h in hits for w in windows.of(h)}
            else:
                seen: dict[int, set[int]] = {}
                for term, hit in hits:
                    for w in windows.of(hit):
                        seen.setdefault(w, set()).add(id(term))
                found = {w for w, terms in seen.items() if len(terms) >= group.at_least}
        elif kind == "all":
            found = set()
            for i, child in enumerate(group.children):
                sub = self.fired(child, within)
                found = set(sub) if i == 0 else found & sub
                if not found:
                    break
        else:
            counts: dict[int, int] = {}
            for child in group.children:
                for w in self.fired(child, within):
                    counts[w] = counts.get(w, 0) + 1
            found = {w for w, n in counts.items() if n >= group.at_least}
        self._sets[key] = found
        return found

    def _convert(self, fired: set[int], source: Within, target: Within) -> set[int]:
        if not fired:
            return set()
        if source.kind == "article" or (source.kind == "title" and 0 in fired):
            return set(self.universe(target))
        src, dst = self.windows(source), self.windows(target)
        return {w for w in self.universe(target)
                if any(overlap(dst.spans[w], src.spans[x]) for x in fired)}

    def vetoed(self) -> set[int]:
        """The windows (of the watch topic's kind) in which a veto fires."""
        within = self.topic.within
        out: set[int] = set()
        for veto in self.topic.none:
            if veto.kind in ("terms", "entity") and not self.scan.any_fired(veto):
                continue  # nothing of it in the article: skip the windows
            out |= self.fired(veto, within)
        return out

    def counted(self) -> tuple[list[int], float]:
        """The windows that count, and the score."""
        within = self.topic.within
        windows = self.windows(within)
        good = sorted(self.fired(self.topic.rule, within) - self.vetoed())
        score = 0.0
        if any(windows.is_title(w) for w in good):
            score += self.topic.title_weight
        text = [w for w in good if not windows.is_title(w)]
        if within.kind == "words":
            kept, last_end = [], (-1, -1)
            for w in text:
                fld, start, end = windows.spans[w]
                if (fld, start) >= last_end:
                    kept.append(w)
                    last_end = (fld, end)
            good = [w for w in good if windows.is_title(w)][:1] + kept
            text = kept
        elif within.kind in ("sentence", "paragraph") and len(text) > 1 and coarser_inside(
                self.topic.rule, within):
            text = self._distinct(text, within)
            good = [w for w in good if windows.is_title(w)] + text
        score += len(text)
        return good, score

    def _distinct(self, text: list[int], within: Within) -> list[int]:
        """Count once the windows that hold the rule only through one coarser window.

        A group with a coarser ``within`` than the rule's (``paragraph`` in a sentence rule)
        fires in every sentence of its paragraph; without this, one paragraph that satisfies
        it would score once per sentence that happens to hold any of the rule's terms. A window
        in which the whole rule holds with every group confined to the window itself counts
        on its own; the others count once per paragraph (or per article, for a paragraph
        rule) that has no such window, for the first of them.
        """
        self._local = True
        try:
            alone = self.fired(self.topic.rule, within) - self.vetoed()
        finally:
            self._local = False
        windows = self.windows(within)
        outer = self.windows(PARAGRAPH) if within.kind == "sentence" else None

        def container(w: int) -> int:
            if outer is None:
                return -1
            return next((p for p in range(len(outer.spans)) if not outer.is_title(p)
                         and overlap(outer.spans[p], windows.spans[w])), -1)

        seen = {container(w) for w in text if w in alone}
        kept = []
        for w in text:
            if w in alone:
                kept.append(w)
            elif (where := container(w)) not in seen:
                seen.add(where)
                kept.append(w)
        return kept

    def result(self) -> TopicMatch | None:
        """The match, or ``None`` when the score stays below the threshold."""
        good, score = self.counted()
        if not good or score < self.topic.threshold:
            return None
        return TopicMatch(self.topic.id, self.topic.title, self.topic.severity, score,
                          self._evidence(good)[:MAX_EVIDENCE],
                          self._sentences(good)[:MAX_SENTENCES])

    def _evidence(self, good: list[int]) -> tuple[Evidence, ...]:
        within = self.topic.within
        target = self.windows(within)
        spans = [target.spans[w] for w in good]
        seen: dict[tuple[int, int, int, str], Evidence] = {}
        for group, own in self.leaves:
            windows = self.windows(own)
            fired = self.fired(group, own)
            support = fired if own.kind in ("article", "title") else {
                x for x in fired if any(overlap(windows.spans[x], s) for s in spans)}
            for term, hit in self.hits(group):
                if any(w in support for w in windows.of(hit)):
                    key = (hit[0], hit[1], hit[2], group.label)
                    if key not in seen:
                        seen[key] = self.evidence_of(group, term, hit)
        return tuple(seen[k] for k in sorted(seen))

    def evidence_of(self, group: Group, term: Term, hit: Hit) -> Evidence:
        """One hit as :class:`Evidence`, quoted from the field as written."""
        start, end = self.scan.original(hit)
        source = self.scan.fields[hit[0]].original
        return Evidence(group.label, term.written, source[start:end], FIELDS[hit[0]], start, end)

    def _sentences(self, good: list[int]) -> tuple[tuple[str, int, int, str], ...]:
        within = self.topic.within
        windows = self.windows(within)
        if within.kind in ("sentence", "paragraph"):
            spans = [windows.original[w] for w in good]
        else:
            cut = self.article_windows.of_kind(Within("sentence"))
            hits = {(e.field, e.start) for e in self._evidence(good)}
            spans = [cut.original[w] for w in range(len(cut.original))
                     if any(f == FIELDS[cut.original[w][0]] and cut.original[w][1] <= s
                            < cut.original[w][2] for f, s in hits)]
        out = []
        for fld, start, end in spans:
            source = self.scan.fields[fld].original
            out.append((FIELDS[fld], start, end, source[start:end]))
        return tuple(out)

