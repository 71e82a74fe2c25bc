"""Build resources/vocabularies/{coco80,lvis_v1}.json from ../shared/data (run once).

COCO-80 takes its names and ids from COCO, its synsets and definitions from
lvis-api's coco_to_synset map, and its synonyms from the LVIS v1 category that
shares its synset (so "couch" also finds "sofa").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
data = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests" / "data"
out = root / "resources" / "vocabularies"
out.mkdir(parents=True, exist_ok=True)

lvis = json.loads((data / "lvis_v1_categories.json").read_text())
lvis_cats = [
    {
        "id": c["id"],
        "name": c["name"],
        "synonyms": c["synonyms"],
        "def": c["def"],
        "synset": c["synset"],
        "frequency": c["frequency"],
        "train_image_count": c["train_image_count"],
    }
    for c in sorted(lvis, key=lambda c: c["id"])
]
(out / "lvis_v1.json").write_text(
    json.dumps({"name": "LVIS v1", "categories": lvis_cats}, indent=0, ensure_ascii=False) + "\n"
)

by_synset = {c["synset"]: c for c in lvis_cats}
coco_map = json.loads((data / "coco_to_lvis_synset.json").read_text())
coco_cats = []
for name, entry in coco_map.items():
    twin = by_synset.get(entry["synset"])
    synonyms = [name]
    if twin is not None:
        synonyms += [s.replace("_", " ") for s in twin["synonyms"] if s.replace("_", " ") != name]
    coco_cats.append(
        {
            "id": entry["coco_cat_id"],
            "name": name,
            "synonyms": synonyms,
            "def": entry["meaning"],
            "synset": entry["synset"],
        }
    )
coco_cats.sort(key=lambda c: c["id"])
(out / "coco80.json").write_text(
    json.dumps({"name": "COCO-80", "categories": coco_cats}, indent=0, ensure_ascii=False) + "\n"
)
print(f"wrote {len(lvis_cats)} LVIS v1 and {len(coco_cats)} COCO categories to {out}")
