"""Vocabularies: the categories a project labels, where they come from, and search.

A vocabulary is loaded from the shipped COCO-80 or LVIS v1 lists, the ``categories``
of a COCO/LVIS JSON file, or a text file (one category a line, synonyms after commas).
Names are matched without regard to case, underscores or repeated spaces, so that
LVIS's ``baseball_bat`` and COCO's ``baseball bat`` are one category.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select

from . import text as text_policy
from .errors import VocabularyError
from .store import schema as s
from .store.database import Project, now

SHIPPED = {"coco": "coco80.json", "lvis": "lvis_v1.json"}
FREQUENCIES = ("r", "c", "f")


def normalize(name: str) -> str:
    """The form names are compared in: lower case, underscores as spaces, single spaces."""
    return " ".join(name.replace("_", " ").lower().split())


_QUALIFIER = re.compile(r"\s*\([^)]*\)")


def name_forms(name: str) -> list[str]:
    """A normalised name and its bare form: ``car (automobile)`` is also ``car``."""
    norm = normalize(name)
    bare = _QUALIFIER.sub("", norm).strip()
    return [norm, bare] if bare and bare != norm else [norm]


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text)


@dataclass(frozen=True)
class Category:
    """One category: its name, other names, definition and WordNet synset."""

    name: str
    synonyms: tuple[str, ...] = ()
    definition: str = ""
    synset: str | None = None
    source_id: int | None = None  # its id in the vocabulary it came from
    frequency: str | None = None  # r / c / f as that vocabulary gave it
    id: int | None = None  # its id in a project, once stored

    @property
    def key(self) -> str:
        return normalize(self.name)

    @property
    def display_name(self) -> str:
        return self.name.replace("_", " ")


@dataclass(frozen=True)
class Vocabulary:
    name: str
    categories: tuple[Category, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.categories)


# ---------------------------------------------------------------- loading


def load_vocabulary(spec: str | Path) -> Vocabulary:
    """``coco``, ``lvis``, or the path of a COCO/LVIS JSON or a text file."""
    text = str(spec)
    if text.lower() in SHIPPED:
        return shipped_vocabulary(text.lower())
    path = Path(text).expanduser()
    if not path.exists():
        raise VocabularyError(f"vocabulary {text!r} is neither 'coco', 'lvis' nor an existing file")
    if path.is_dir():
        raise VocabularyError(f"vocabulary {path} is a folder, not a file")
    raw = path.read_bytes()
    if path.suffix.lower() == ".json" or raw.lstrip()[:1] in (b"{", b"["):
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VocabularyError(f"{path}: not valid JSON ({exc})") from exc
        return vocabulary_from_json(document, source=str(path))
    try:
        return vocabulary_from_text(raw.decode("utf-8"), source=str(path))
    except UnicodeDecodeError as exc:
        raise VocabularyError(f"{path}: not UTF-8 text ({exc})") from exc


def shipped_vocabulary(name: str) -> Vocabulary:
    """The COCO-80 (``coco``) or LVIS v1 (``lvis``) list shipped in ``resources/``."""
    file = resources.files("resources").joinpath("vocabularies").joinpath(SHIPPED[name])
    document = json.loads(file.read_text(encoding="utf-8"))
    vocabulary = vocabulary_from_json(document, source=SHIPPED[name])
    return replace(vocabulary, name=document.get("name", name))


def vocabulary_from_json(document: Any, *, source: str) -> Vocabulary:
    """The categories of a COCO or LVIS JSON document (or a bare list of categories)."""
    items = document.get("categories") if isinstance(document, Mapping) else document
    if not isinstance(items, list):
        raise VocabularyError(f"{source}: no 'categories' list")
    categories = []
    for index, item in enumerate(items):
        where = f"{source}: categories[{index}]"
        if not isinstance(item, Mapping):
            raise VocabularyError(f"{where} is not an object")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise VocabularyError(f"{where} has no 'name'")
        source_id = item.get("id")
        if source_id is not None and not isinstance(source_id, int):
            raise VocabularyError(f"{where} ({name}): 'id' must be an integer")
        try:
            categories.append(category_from_entry(item, name, source_id))
        except VocabularyError as exc:
            raise VocabularyError(f"{where} ({name}): {exc}") from None
    return Vocabulary(Path(source).stem, _unique(categories, source))


def category_from_entry(item: Mapping[str, Any], name: str, source_id: int | None) -> Category:
    """A category from a COCO/LVIS ``categories`` entry whose name and id the caller
    checked: synonyms, definition (``def``), synset and frequency. VocabularyError says
    what is wrong; the caller says where."""
    synonyms = item.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(isinstance(x, str) for x in synonyms):
        raise VocabularyError("'synonyms' must be a list of strings")
    frequency = item.get("frequency")
    if frequency is not None and frequency not in FREQUENCIES:
        raise VocabularyError(f"frequency must be r, c or f, got {frequency!r}")
    definition = item.get("def", item.get("definition", "")) or ""
    return Category(
        name=name.strip(),
        synonyms=tuple(x.strip() for x in synonyms if x.strip()),
        definition=str(definition).strip(),
        synset=item.get("synset") or None,
        source_id=source_id,
        frequency=frequency,
    )


def vocabulary_from_text(text: str, *, source: str) -> Vocabulary:
    """One category a line: ``name[, synonym, ...]``; blank lines and ``#`` comments skipped."""
    categories = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        names = [part.strip() for part in line.split(",")]
        if not names[0]:
            raise VocabularyError(f"{source}:{number}: the line starts with a comma, no name")
        categories.append(
            Category(name=names[0], synonyms=tuple(n for n in names if n), source_id=None)
        )
    if not categories:
        raise VocabularyError(f"{source}: no categories in the file")
    return Vocabulary(Path(source).stem, _unique(categories, source))


def _unique(categories: list[Category], source: str) -> tuple[Category, ...]:
    seen: dict[str, str] = {}
    for category in categories:
        if category.key in seen:
            raise VocabularyError(
                f"{source}: category {category.name!r} appears twice (as {seen[category.key]!r})"
            )
        seen[category.key] = category.name
    return tuple(categories)


# ---------------------------------------------------------------- matching


MATCH_RULES = ("name", "synonym", "synset")


@dataclass(frozen=True)
class CategoryMatching:
    """Which incoming category is which known one, and how each was matched.

    ``pairs`` maps an incoming index to a known index (each known category taken at
    most once); ``rule`` says by which of :data:`MATCH_RULES` it was matched;
    ``unmatched`` lists, in input order, the incoming indices that matched nothing and
    ``unmatched_names`` their names, for reports.
    """

    pairs: Mapping[int, int]
    rule: Mapping[int, str]
    unmatched: tuple[int, ...]
    unmatched_names: tuple[str, ...]

    def known_for(self, incoming: int) -> int | None:
        return self.pairs.get(incoming)

    def incoming_for_known(self) -> dict[int, int]:
        """The inverse: known index -> incoming index."""
        return {k: i for i, k in self.pairs.items()}


def match_categories(incoming: Sequence[Any], known: Sequence[Any]) -> CategoryMatching:
    """Match categories arriving from elsewhere (a file, a checkpoint, a truth JSON)
    to ``known`` ones (usually the project's). The one rule for every way in. Each
    side holds :class:`Category` objects, names, or rows with ``name`` (and optionally
    ``synonyms`` and ``synset``).

    Three passes, each over all categories before the next, each known category used
    at most once, ties going to the earlier known category:

    1. **name**: the same name in :func:`normalize` form;
    2. **synonym**: any name or synonym of one, or its bare form without a
       parenthesised qualifier (``car (automobile)`` -> ``car``), equals one of the
       other's, unless both carry synsets and they differ (LVIS v0.5's ``grillroom``,
       also called ``grill``, is not LVIS v1's ``grill``, a grate);
    3. **synset**: the same WordNet synset.

    A category carrying one of the COCO-80 names but no synonyms or synset (a COCO
    file's ``categories`` have neither) borrows them from the shipped COCO-80 list,
    whose synsets are lvis-api's ``coco_to_synset``: so COCO's ``hair drier`` meets LVIS's
    ``hair_dryer`` (``hand_blower.n.01``). Empty names and ``N/A`` placeholders (in
    torchvision's COCO class list) never match.
    """
    borrowed = _coco80_by_key()
    sources = [_with_coco_names(_as_category(c), borrowed) for c in incoming]
    targets = [_with_coco_names(_as_category(c), borrowed) for c in known]

    def placeholder(c: Category) -> bool:
        return c.key in ("", "n/a")

    def forms(c: Category) -> list[str]:
        out = [f for name in (c.name, *c.synonyms) for f in name_forms(name)]
        return list(dict.fromkeys(f for f in out if f and f != "n/a"))

    target_keys: list[list[str]] = [[] if placeholder(t) else [t.key] for t in targets]
    target_forms = [[] if placeholder(t) else forms(t) for t in targets]
    target_synsets = [[] if placeholder(t) or not t.synset else [t.synset] for t in targets]
    passes = (
        ("name", lambda c: [] if placeholder(c) else [c.key], target_keys),
        ("synonym", lambda c: [] if placeholder(c) else forms(c), target_forms),
        ("synset", lambda c: [] if placeholder(c) or not c.synset else [c.synset], target_synsets),
    )
    pairs: dict[int, int] = {}
    rule: dict[int, str] = {}
    used: set[int] = set()
    for name, keys_of, target_side in passes:
        index: dict[str, list[int]] = {}
        for k, keys in enumerate(target_side):
            for key in keys:
                index.setdefault(key, []).append(k)
        for i, source in enumerate(sources):
            if i in pairs:
                continue
            candidates = sorted({k for key in keys_of(source) for k in index.get(key, ())})
            free = [k for k in candidates if k not in used]
            if name == "synonym" and source.synset:
                free = [
                    k for k in free if not targets[k].synset or targets[k].synset == source.synset
                ]
            if free:
                pairs[i] = free[0]
                rule[i] = name
                used.add(free[0])
    unmatched = tuple(i for i in range(len(sources)) if i not in pairs)
    return CategoryMatching(
        pairs=pairs,
        rule=rule,
        unmatched=unmatched,
        unmatched_names=tuple(sources[i].name for i in unmatched),
    )


def _as_category(category: Any) -> Category:
    """A name, a Category, or a row with ``name`` (and maybe ``synonyms``, ``synset``)."""
    if isinstance(category, str):
        return Category(name=category)
    if isinstance(category, Category):
        return category
    return Category(
        name=str(category.name),
        synonyms=tuple(getattr(category, "synonyms", None) or ()),
        synset=getattr(category, "synset", None) or None,
    )


def _with_coco_names(category: Category, coco80: Mapping[str, Category]) -> Category:
    shipped = coco80.get(category.key)
    if shipped is None or (category.synonyms and category.synset):
        return category
    return replace(
        category,
        synonyms=category.synonyms or shipped.synonyms,
        synset=category.synset or shipped.synset,
    )


_COCO80: dict[str, Category] = {}


def _coco80_by_key() -> dict[str, Category]:
    if not _COCO80:
        _COCO80.update({c.key: c for c in shipped_vocabulary("coco").categories})
    return _COCO80


# ---------------------------------------------------------------- the project's categories


def add_categories(
    project: Project, vocabulary: Vocabulary | Iterable[Category]
) -> tuple[int, int]:
    """Merge categories into the project by name; returns (added, already there).

    A category already in the project keeps its id; missing synonyms, definition and
    synset are filled in from the new one.
    """
    incoming = vocabulary.categories if isinstance(vocabulary, Vocabulary) else tuple(vocabulary)
    with project.write() as conn:
        added, kept = merge_categories(conn, incoming)
    return added, kept


def merge_categories(conn: Any, incoming: Iterable[Category]) -> tuple[int, int]:
    """:func:`add_categories` inside the caller's transaction."""
    rows = conn.execute(select(s.categories)).all()
    existing = {normalize(r.name): r for r in rows}
    added = kept = 0
    new_rows = []
    for category in incoming:
        row = existing.get(category.key)
        if row is None:
            # The one text policy (decision 0024): both backends hold what is stored.
            where = f"category {category.name[:60]!r}"
            new_rows.append(
                {
                    "name": text_policy.clean("category", category.name, where=where),
                    "synonyms": [
                        text_policy.clean("synonym", x, where=where) for x in category.synonyms
                    ],
                    "definition": category.definition,
                    "synset": category.synset,
                    "source_id": category.source_id,
                    "frequency": category.frequency,
                    "created_at": now(),
                }
            )
            existing[category.key] = category  # a later duplicate counts as kept
            added += 1
            continue
        kept += 1
        if isinstance(row, Category):
            continue
        synonyms = list(row.synonyms or [])
        merged = synonyms + [x for x in category.synonyms if x not in synonyms]
        changes: dict[str, Any] = {}
        if merged != synonyms:
            changes["synonyms"] = merged
        if not row.definition and category.definition:
            changes["definition"] = category.definition
        if not row.synset and category.synset:
            changes["synset"] = category.synset
        if row.frequency is None and category.frequency:
            changes["frequency"] = category.frequency
        if changes:
            conn.execute(s.categories.update().where(s.categories.c.id == row.id).values(**changes))
    if new_rows:
        conn.execute(s.categories.insert(), new_rows)
    return added, kept


def project_categories(project: Project) -> list[Category]:
    """The project's categories in id order."""
    with project.read() as conn:
        rows = conn.execute(select(s.categories).order_by(s.categories.c.id)).all()
    return [category_from_row(r) for r in rows]


def category_from_row(row: Any) -> Category:
    return Category(
        name=row.name,
        synonyms=tuple(row.synonyms or ()),
        definition=row.definition or "",
        synset=row.synset,
        source_id=row.source_id,
        frequency=row.frequency,
        id=row.id,
    )


# ---------------------------------------------------------------- search

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class _Entry:
    """One category's searchable text, normalised once. Joined fields put a newline
    before each label, and a normalised query has none: a newline followed by ``q`` in
    ``name_lines`` says that some name starts with ``q``, ``q`` in ``label_text`` that
    some label contains it."""

    category: Category
    key: Any  # its id, else its name: what ``usage`` and ``among`` are keyed by
    names: tuple[str, ...]  # the name, normalised, and its bare form
    synonyms: tuple[str, ...]
    compact: frozenset[str]  # every label without spaces or punctuation
    name_lines: str
    synonym_lines: str
    label_text: str  # names and synonyms, normalised, one a line
    definition: str
    # the words of labels and definition, each after a space: `" " + w in word_starts`
    # says some word starts with ``w``
    word_starts: str
    # labels and definition in one string: a query not in it matches no rank but the
    # compact label's and the word-by-word one (a quick rejection per keystroke)
    text: str


class CategoryIndex:
    """Instant search over names, synonyms and definitions.

    Ranking, best first: exact name; exact synonym; name prefix; synonym prefix; a
    whole word of a name or synonym; a word prefix there; a substring there; a whole
    word of the definition; a word prefix there; a substring there. Within a rank,
    categories used more often come first (``usage``), then shorter names.
    Multi-word queries also match when every word matches somewhere.
    """

    def __init__(self, categories: Iterable[Category]) -> None:
        self._entries: list[_Entry] = []
        self._positions: dict[Any, list[int]] = {}
        self._by_compact: dict[str, list[int]] = {}
        self._texts: list[str] = []  # each entry's text and compact labels, by position
        self._compacts: list[frozenset[str]] = []
        self._word_starts: list[str] = []
        for position, c in enumerate(categories):
            forms = name_forms(c.name)
            labels = tuple(dict.fromkeys([*forms, *(f for x in c.synonyms for f in name_forms(x))]))
            synonyms = labels[len(forms) :]
            definition = c.definition.lower()
            words = {w for label in labels for w in _WORD.findall(label)}
            words.update(_WORD.findall(definition))
            compact = frozenset(_compact(label) for label in labels)
            key = c.id if c.id is not None else c.name
            self._entries.append(
                _Entry(
                    category=c,
                    key=key,
                    names=tuple(forms),
                    synonyms=synonyms,
                    compact=compact,
                    name_lines="".join("\n" + x for x in forms),
                    synonym_lines="".join("\n" + x for x in synonyms),
                    label_text="\n".join(labels),
                    definition=definition,
                    word_starts="".join(" " + w for w in sorted(words)),
                    text="\n".join((*labels, definition)),
                )
            )
            self._positions.setdefault(key, []).append(position)
            self._texts.append(self._entries[-1].text)
            self._compacts.append(compact)
            self._word_starts.append(self._entries[-1].word_starts)
            for label in compact:
                self._by_compact.setdefault(label, []).append(position)

    def __len__(self) -> int:
        return len(self._entries)

    def search(
        self,
        query: str,
        *,
        limit: int | None = 50,
        usage: Mapping[Any, int] | None = None,
        among: Collection[Any] | None = None,
    ) -> list[Category]:
        """Categories matching ``query``, best first. An empty query lists all (by usage).

        ``among`` (keys: category id, else name) limits the ranking to those categories
        and the ones a compact label equals the query: type-ahead passes the matches of
        the query typed so far (see :func:`narrows`), a much shorter list, and only
        those are looked at.
        """
        q = normalize(query)
        usage = usage or {}
        matcher = _Matcher(q)
        entries = self._entries
        if among is None:
            positions: Iterable[int] = range(len(entries))
        else:
            where, nowhere = self._positions, ()
            keys = among if isinstance(among, (set, frozenset)) else set(among)  # once each
            positions = [p for k in keys for p in where.get(k, nowhere)]
            compact_labelled = self._by_compact.get(matcher.compact)
            if compact_labelled:
                listed = set(positions)
                positions += [p for p in compact_labelled if p not in listed]
        word_by_word: list[int] = []  # rank 10, found without the other ranks' tests
        if q:
            # Passes in comprehensions (a call per entry costs more than its tests).
            # Ranks 0-9 need the query as it stands in a label or the definition, or as
            # a compact label; a query of several words also matches word by word
            # (rank 10), each of its words starting a word of the category.
            texts, compacts, compact = self._texts, self._compacts, matcher.compact
            whole = [p for p in positions if q in texts[p] or compact in compacts[p]]
            if len(matcher.words) > 1:
                starts, kept = self._word_starts, set(whole)
                word_by_word = [p for p in positions if p not in kept]
                for word in matcher.word_starts:  # a pass a word: no call per entry
                    word_by_word = [p for p in word_by_word if word in starts[p]]
            positions = whole
        rank = matcher.rank if q else lambda entry: 0
        scored = []
        for order in positions:
            entry = entries[order]
            found = rank(entry)
            if found is not None:
                scored.append((found, -usage.get(entry.key, 0), len(entry.names[0]), order))
        for order in word_by_word:
            entry = entries[order]
            scored.append((10, -usage.get(entry.key, 0), len(entry.names[0]), order))
        # (rank, usage, name length, position) is unique per entry: the order is total,
        # whatever order the entries were looked at in
        scored.sort()
        return [entries[t[3]].category for t in (scored if limit is None else scored[:limit])]


_PLAIN = re.compile(r"[a-z0-9 ]+")


def narrows(before: str, after: str) -> bool:
    """Does every category matching ``after`` match ``before`` too (its compact label
    aside)? True when ``after`` extends ``before`` and both are plain words (letters,
    digits, spaces): then the matches of ``before`` may be passed to ``search`` as
    ``among``. (Punctuation can split a word, so such queries are searched in full.)

    Why, rank by rank (``before`` is a prefix of ``after``, so each word of ``before``
    is a prefix of a word of ``after``): ``after`` inside a name, synonym or the
    definition (ranks 0-9) puts ``before`` there too; every word of ``after`` starting
    a word of the category (rank 10) makes every word of ``before`` do so. Only rank 1's
    compact label (``t shirt`` is ``tshirt``) is not inherited; ``search`` adds those."""
    before, after = normalize(before), normalize(after)
    return bool(before) and after.startswith(before) and _PLAIN.fullmatch(after) is not None


class _Matcher:
    """One query, prepared once, ranked against every entry."""

    def __init__(self, q: str) -> None:
        self.q = q
        self.line_q = "\n" + q
        self.words = _WORD.findall(q)
        self.word_starts = tuple(" " + w for w in self.words)
        self.compact = _compact(q)

    def rank(self, entry: _Entry) -> int | None:
        """The entry's rank from 0 to 9, or None, for an entry that holds the query in
        its text or as a compact label (``search`` picks those, and ranks 10 itself)."""
        q = self.q
        compact = self.compact in entry.compact
        if q in entry.names:
            return 0
        if (compact and self.compact) or q in entry.synonyms:
            return 1
        # a label, a line of the joined text, starts with q
        if self.line_q in entry.name_lines:
            return 2
        if self.line_q in entry.synonym_lines:
            return 3
        # q holds no newline: in the joined labels it is inside one label, and a word
        # ends at a newline as at a label's end
        labels = entry.label_text
        if q in labels:
            return 6 - _word_match(q, labels)
        definition = entry.definition
        if q in definition:
            return 9 - _word_match(q, definition)
        return None


def _word_match(q: str, text: str) -> int:
    """2 if ``q`` is in ``text`` as whole words (``\\bq\\b``), 1 if it starts a word
    there (``\\bq``), else 0. Word boundaries as ``re`` sees them, without compiling
    a pattern per query (which costs as much as ranking a hundred categories)."""
    starts_word = False
    first, last = _is_word(q[0]), _is_word(q[-1])
    at = text.find(q)
    while at >= 0:
        end = at + len(q)
        if (at > 0 and _is_word(text[at - 1])) != first:
            if (end < len(text) and _is_word(text[end])) != last:
                return 2
            starts_word = True
        at = text.find(q, at + 1)
    return 1 if starts_word else 0


def _is_word(char: str) -> bool:
    """``re``'s ``\\w``: a letter, a digit or numeral of any script, or the underscore."""
    return char.isalnum() or char == "_"
