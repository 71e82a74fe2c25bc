"""Vocabularies: shipped lists, files, merging into a project, and search ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import VocabularyError
from pipeline.store.database import Project
from pipeline.vocabulary import (
    Category,
    CategoryIndex,
    add_categories,
    load_vocabulary,
    match_categories,
    normalize,
    project_categories,
    shipped_vocabulary,
)


def test_shipped_vocabularies():
    coco = shipped_vocabulary("coco")
    lvis = shipped_vocabulary("lvis")
    assert len(coco) == 80 and len(lvis) == 1203
    person = coco.categories[0]
    assert person.name == "person" and person.source_id == 1 and person.synset == "person.n.01"
    assert "child" in person.synonyms and person.definition
    assert {c.frequency for c in lvis.categories} == {"r", "c", "f"}
    assert all(c.definition and c.synset for c in lvis.categories)


def test_shipped_lvis_matches_the_published_list(test_data: Path):
    published = json.loads((test_data / "lvis_v1_categories.json").read_text())
    ours = {c.source_id: c for c in shipped_vocabulary("lvis").categories}
    for c in published:
        assert ours[c["id"]].name == c["name"]
        assert list(ours[c["id"]].synonyms) == c["synonyms"]


def test_text_file_with_synonyms_and_comments(tmp_path: Path):
    path = tmp_path / "snacks.txt"
    path.write_text("# my snacks\ndate, dates\n\nfig , figs, common fig\nhazelnut\n")
    vocab = load_vocabulary(path)
    assert [c.name for c in vocab.categories] == ["date", "fig", "hazelnut"]
    assert vocab.categories[1].synonyms == ("fig", "figs", "common fig")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a\nb\nA\n", "appears twice"),
        (", x\n", "starts with a comma"),
        ("# nothing\n", "no categories"),
        ('{"categories": [{"id": 1}]}', "has no 'name'"),
        ('{"categories": [{"name": "x", "frequency": "q"}]}', "frequency"),
        ('{"categories": 3}', "no 'categories' list"),
        ("{broken json", "not valid JSON"),
    ],
)
def test_bad_vocabulary_files_say_what_and_where(tmp_path: Path, content: str, message: str):
    path = tmp_path / ("v.json" if content.startswith("{") else "v.txt")
    path.write_text(content)
    with pytest.raises(VocabularyError, match=message):
        load_vocabulary(path)


def test_unknown_vocabulary_name():
    with pytest.raises(VocabularyError, match="neither 'coco', 'lvis'"):
        load_vocabulary("imagenet")


def test_coco_json_categories(tiny_coco: Path):
    vocab = load_vocabulary(tiny_coco / "annotations" / "instances_val2017.json")
    assert len(vocab) == 80 and vocab.categories[0].name == "person"


def test_merge_keeps_ids_and_fills_in(empty_project: Project, tmp_path: Path):
    path = tmp_path / "v.txt"
    path.write_text("baseball bat\nperson, human being\n")
    assert add_categories(empty_project, load_vocabulary(path)) == (2, 0)
    before = {c.name: c.id for c in project_categories(empty_project)}
    added, kept = add_categories(empty_project, shipped_vocabulary("lvis"))
    assert (added, kept) == (1203 - 2, 2)  # LVIS has baseball_bat and person too
    after = project_categories(empty_project)
    assert {c.name: c.id for c in after}["baseball bat"] == before["baseball bat"]
    bat = next(c for c in after if c.name == "baseball bat")
    assert bat.synset == "baseball_bat.n.01" and bat.definition  # filled in from LVIS


def test_normalize():
    assert normalize("Baseball_Bat") == normalize("baseball  bat") == "baseball bat"


@pytest.fixture(scope="module")
def lvis_index() -> CategoryIndex:
    return CategoryIndex(shipped_vocabulary("lvis").categories)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("dog", "dog"),
        ("car", "car_(automobile)"),  # the bare name beats 'card', 'cart'
        ("bat", "bat_(animal)"),
        ("couch", "sofa"),  # a synonym
        ("sofa b", "sofa_bed"),  # prefix
        ("Baseball Bat", "baseball_bat"),
    ],
)
def test_search_ranks_exact_then_prefix(lvis_index: CategoryIndex, query: str, first: str):
    assert lvis_index.search(query)[0].name == first


def test_search_ranks_whole_words_before_substrings_and_definitions(lvis_index: CategoryIndex):
    names = [c.name for c in lvis_index.search("bat", limit=None)]
    # whole word, then word prefix, then inside a word
    assert names.index("baseball_bat") < names.index("car_battery") < names.index("birdbath")
    fruit = [c.name for c in lvis_index.search("fruit", limit=None)]
    assert fruit[0] == "fruit_juice" or fruit[0].startswith("fruit")
    assert "apple" in fruit  # found through its definition


def test_search_prefers_used_categories_within_a_rank():
    from pipeline.vocabulary import Category

    cats = [Category("apple", id=1), Category("apricot", id=2), Category("avocado", id=3)]
    index = CategoryIndex(cats)
    assert [c.name for c in index.search("ap")] == ["apple", "apricot"]
    assert [c.name for c in index.search("ap", usage={2: 5})] == ["apricot", "apple"]
    assert [c.name for c in index.search("", usage={3: 1})][0] == "avocado"
    assert index.search("zebra") == []


# ---------------------------------------------------------------- matching


def test_matching_tries_name_then_synonym_then_synset_each_known_category_once():
    incoming = ["person", "N/A", "car", "dining table", "sofa", "kitten"]
    known = [
        Category("Dining_Table"),
        Category("automobile", synonyms=("car",)),
        Category("n/a"),
        Category("car"),
        Category("couch", synonyms=("sofa", "settee")),
        Category("cat_(feline)", synset="cat.n.01"),
    ]
    matching = match_categories([*incoming[:-1], Category("kitten", synset="cat.n.01")], known)
    assert matching.pairs == {2: 3, 3: 0, 4: 4, 5: 5}
    assert matching.rule == {2: "name", 3: "name", 4: "synonym", 5: "synset"}
    # person has nothing to meet; N/A placeholders never match, not even each other
    assert matching.unmatched == (0, 1) and matching.unmatched_names == ("person", "N/A")
    assert matching.incoming_for_known() == {3: 2, 0: 3, 4: 4, 5: 5}


def test_a_name_match_wins_over_an_earlier_synonym_match():
    # "automobile" could take "car" by synonym, but "car" is a name of its own
    matching = match_categories(["automobile", "car"], [Category("car", synonyms=("automobile",))])
    assert matching.pairs == {1: 0} and matching.unmatched_names == ("automobile",)


def test_bare_forms_match_qualified_names():
    matching = match_categories(["bus", "mouse"], ["bus_(vehicle)", "mouse (computer equipment)"])
    assert matching.pairs == {0: 0, 1: 1} and set(matching.rule.values()) == {"synonym"}


def test_coco_file_categories_meet_every_lvis_category_they_have(tiny_coco: Path):
    """The 17 COCO categories that name-only matching lost, found by synonym or synset;
    COCO files carry neither, so COCO-80 names borrow them from the shipped list."""
    document = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    coco = [Category(c["name"], source_id=c["id"]) for c in document["categories"]]
    assert all(not c.synonyms and not c.synset for c in coco)
    lvis = list(shipped_vocabulary("lvis").categories)
    matching = match_categories(coco, lvis)
    pairs = {coco[i].name: lvis[k].name for i, k in matching.pairs.items()}
    lost_before = [
        "car",
        "bus",
        "train",
        "tie",
        "skis",
        "sports ball",
        "wine glass",
        "orange",
        "potted plant",
        "laptop",
        "mouse",
        "remote",
        "keyboard",
        "cell phone",
        "microwave",
        "hair drier",
    ]
    assert all(name in pairs for name in lost_before)
    assert pairs["hair drier"] == "hair_dryer" and pairs["cell phone"] == "cellular_telephone"
    assert pairs["mouse"] == "mouse_(computer_equipment)" and pairs["tie"] == "necktie"
    # LVIS v1 has no hot dog (frank.n.02): the one COCO category that stays unmatched
    assert matching.unmatched_names == ("hot dog",)
    assert len(set(pairs.values())) == len(pairs) == 79


def test_synset_pass_matches_where_names_differ_entirely():
    coco_hot_dog_like = Category("wiener", synset="frank.n.02")
    matching = match_categories([coco_hot_dog_like], [Category("hot dog")])
    # "hot dog" is a COCO-80 name: it borrows frank.n.02 from the shipped list
    assert matching.pairs == {0: 0} and matching.rule == {0: "synset"}
