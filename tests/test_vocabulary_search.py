"""The vocabulary's ranked search over LVIS v1: it ranks exactly as its rules say, and
type-ahead narrowing (``among``) never changes a result.

``spec_search`` below is the ranking written the plain way, rule by rule, label by
label (as the search first was); ``CategoryIndex.search`` is the fast one. They must give
the same hits in the same order on every query tried: prefixes of names, synonyms and
definitions as an annotator types them, several words, punctuation.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

import pytest

from pipeline.vocabulary import (
    Category,
    CategoryIndex,
    name_forms,
    narrows,
    normalize,
    shipped_vocabulary,
)

WORD = re.compile(r"[a-z0-9]+")


def compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text)


@dataclass(frozen=True)
class SpecEntry:
    """A category's normalised text, as the rules speak of it."""

    category: Category
    names: list[str]
    synonyms: list[str]
    labels: list[str]
    definition: str
    compact_labels: set[str]
    text: str  # labels and definition

    @classmethod
    def of(cls, category: Category) -> SpecEntry:
        names = name_forms(category.name)
        synonyms = [f for x in category.synonyms for f in name_forms(x)]
        labels = list(dict.fromkeys([*names, *synonyms]))
        definition = category.definition.lower()
        return cls(
            category,
            names,
            labels[len(names) :],
            labels,
            definition,
            {compact(label) for label in labels},
            "\n".join([*labels, definition]),
        )


@dataclass(frozen=True)
class SpecQuery:
    q: str  # normalised
    words: list[str]
    compact: str
    phrase: re.Pattern[str]  # the query as whole words
    word_start: re.Pattern[str]  # the query at the start of a word

    @classmethod
    def of(cls, query: str) -> SpecQuery:
        q = normalize(query)
        return cls(
            q,
            WORD.findall(q),
            compact(q),
            re.compile(r"\b" + re.escape(q) + r"\b"),
            re.compile(r"\b" + re.escape(q)),
        )


def spec_rank(query: SpecQuery, entry: SpecEntry) -> int | None:
    """A category's rank for a query by the documented rules, or None."""
    q, words = query.q, query.words
    names, synonyms, labels, definition = (
        entry.names,
        entry.synonyms,
        entry.labels,
        entry.definition,
    )
    compact_match = query.compact in entry.compact_labels
    needles = [q] if len(words) <= 1 else words
    if not compact_match and not all(n in entry.text for n in needles):
        return None
    if q in names:
        return 0
    if q in synonyms or (query.compact and compact_match):
        return 1
    if any(name.startswith(q) for name in names):
        return 2
    if any(synonym.startswith(q) for synonym in synonyms):
        return 3
    inside = [label for label in labels if q in label]
    if inside:
        if any(query.phrase.search(label) for label in inside):
            return 4
        if any(query.word_start.search(label) for label in inside):
            return 5
        return 6
    if q in definition:
        if query.phrase.search(definition):
            return 7
        if query.word_start.search(definition):
            return 8
        return 9
    if len(words) > 1:
        pool = {w for label in labels for w in WORD.findall(label)} | set(WORD.findall(definition))
        if all(any(w.startswith(word) for w in pool) for word in words):
            return 10
    return None


def spec_search(entries: list[SpecEntry], text: str, usage: dict[int, int]) -> list[int]:
    query = SpecQuery.of(text)
    scored = []
    for order, entry in enumerate(entries):
        rank = spec_rank(query, entry) if query.q else 0
        if rank is not None:
            key = (rank, -usage.get(entry.category.id, 0), len(entry.names[0]), order)
            scored.append((key, entry.category.id))
    return [t[1] for t in sorted(scored)]


@pytest.fixture(scope="module")
def lvis() -> list[Category]:
    return [replace(c, id=i + 1) for i, c in enumerate(shipped_vocabulary("lvis").categories)]


@pytest.fixture(scope="module")
def usage(lvis) -> dict[int, int]:
    rng = random.Random(0)
    return {rng.randrange(1, len(lvis) + 1): rng.randrange(1, 200) for _ in range(300)}


def typed(text: str) -> list[str]:
    """What the query box holds after each keystroke typing ``text``."""
    return [text[:end] for end in range(1, len(text) + 1)]


def typing_queries(lvis: list[Category], every: int) -> list[str]:
    """Every prefix of the names and synonyms of every ``every``-th category and of the
    start of its definition, and of a few awkward queries."""
    queries: dict[str, None] = {}
    for category in lvis[::every]:
        for label in (category.name, *category.synonyms):
            queries.update(dict.fromkeys(typed(label.replace("_", " "))))
        queries.update(dict.fromkeys(typed(category.definition[:18])))
    for awkward in ("t-shirt", "t shirt", "car (auto", "Baseball_Bat", "a container for", "zz top"):
        queries.update(dict.fromkeys(typed(awkward)))
    return list(queries)


def ids(categories: list[Category]) -> list[int]:
    return [c.id for c in categories]


def test_the_search_ranks_every_typed_query_exactly_as_the_rules_say(lvis, usage):
    index = CategoryIndex(lvis)
    entries = [SpecEntry.of(c) for c in lvis]
    queries = typing_queries(lvis, every=40)
    assert len(queries) > 800
    for query in queries:
        assert ids(index.search(query, limit=None, usage=usage)) == spec_search(
            entries, query, usage
        ), query


def test_narrowing_to_the_last_query_s_matches_gives_the_full_search_s_hits(lvis, usage):
    index = CategoryIndex(lvis)
    queries = typing_queries(lvis, every=16)
    full = {normalize(q): index.search(q, limit=None, usage=usage) for q in queries}
    narrowed = 0
    for query, hits in full.items():
        before = next(
            (query[:end] for end in range(len(query) - 1, 0, -1) if query[:end] in full), None
        )
        if before is None or not narrows(before, query):
            continue
        among = {c.id for c in full[before]}
        assert index.search(query, limit=None, usage=usage, among=among) == hits, query
        narrowed += 1
    assert narrowed > 1500


def test_a_compact_label_is_found_although_the_shorter_query_did_not_match_it():
    index = CategoryIndex([Category("t-shirt", id=1), Category("sweatshirt", id=2)])
    assert ids(index.search("tshir", limit=None)) == [2]
    # 'tshirt' is t-shirt's compact label: ranked although 'tshir' did not match it
    among = {2}
    assert ids(index.search("tshirt", limit=None, among=among)) == [1, 2]
    assert ids(index.search("tshirt", limit=None)) == [1, 2]


def test_narrowing_holds_only_for_plain_words_extending_the_last_query():
    assert narrows("bas", "base")
    assert narrows("baseball", "baseball b")
    assert not narrows("base", "bas")  # shorter
    assert not narrows("cat", "car")  # not an extension
    assert not narrows("t", "t-")  # punctuation splits words
    assert not narrows("", "a")  # nothing searched before


def test_categories_without_ids_are_narrowed_by_name():
    cats = [Category("apple"), Category("apricot"), Category("avocado")]
    index = CategoryIndex(cats)
    among = {c.name for c in index.search("a", limit=None)}
    assert [c.name for c in index.search("ap", limit=None, among=among)] == ["apple", "apricot"]
    assert index.search("ap", limit=None, among={"apricot"}) == [cats[1]]
    assert index.search("ap", limit=None, among=["apricot", "apricot"]) == [cats[1]]  # once
