"""The dimension taxonomy: default mapping, synonyms, drops, a user's override file."""

from __future__ import annotations

import json

import pytest

from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.train import taxonomy as taxonomy_module
from cleverward.train.taxonomy import TaxonomyError, load_taxonomy, normalise_name


@pytest.mark.parametrize("name, canonical", [
    ("visual quality", "visual_aesthetics"),
    ("temporal consistency", "motion_continuity"),
    ("dynamic degree", "dynamism"),
    ("text-to-video alignment", "textual_alignment"),
    ("factual consistency", "physical_realism"),
    ("VQ", "visual_aesthetics"),
    ("MQ", "motion_continuity"),
    ("TA", "textual_alignment"),
    ("Overall", "overall"),
    ("MOS", "overall"),
    ("vote", "overall"),
])
def test_every_dataset_dimension_maps(name, canonical):
    assert load_taxonomy().canonical(name) == canonical


def test_canonical_names_map_to_themselves_and_synonyms_are_insensitive():
    t = load_taxonomy()
    assert all(t.canonical(n) == n for n in SCORE_NAMES)
    assert t.canonical("  Text_To-Video   Alignment ") == "textual_alignment"
    assert t.canonical("VISUAL-AESTHETICS") == "visual_aesthetics"
    assert normalise_name("Text_to video-Alignment") == "text to video alignment"


def test_unmatched_dropped_and_synonyms_merged():
    mapped, dropped = load_taxonomy().map_scores(
        {"visual quality": 3, "VQ": 4, "flicker": 1, "MOS": 50}
    )
    assert mapped == {"visual_aesthetics": 3.5, "overall": 50.0}
    assert dropped == ["flicker"]


def test_user_file_extends_and_overrides(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({
        "aliases": {"textual_alignment": ["semantic fidelity"], "physical_realism": ["TA"]},
        "drop": ["vote"],
        "datasets": {"t2vqa": {"MOS": "visual_aesthetics"}, "mine": {"overall": None}},
    }))
    t = load_taxonomy(f)
    assert t.canonical("Semantic_Fidelity") == "textual_alignment"
    assert t.canonical("ta") == "physical_realism"  # re-pointed
    assert t.canonical("vote") is None
    assert t.canonical("mos", "t2vqa") == "visual_aesthetics"
    assert t.canonical("mos", "other") == "overall"
    assert t.canonical("overall", "mine") is None
    assert load_taxonomy().canonical("vote") == "overall"  # the default is untouched


@pytest.mark.parametrize("table, message", [
    ({"aliases": {"beauty": ["pretty"]}}, "'beauty' is not one of"),
    ({"aliases": {"overall": "mos"}}, "aliases.overall must be a list"),
    ({"aliases": {"overall": ["x"], "dynamism": ["x"]}}, "'x' listed under overall and dynamism"),
    ({"datasets": {"d": {"x": "nope"}}}, "datasets.d.x: 'nope'"),
    ({"drop": "vote"}, "'drop' must be a list"),
    ({"alias": {}}, "unknown key"),
])
def test_bad_user_file_errors_name_the_file(tmp_path, table, message):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(table))
    with pytest.raises(TaxonomyError, match=f"{f}.*{message}"):
        load_taxonomy(f)


def test_missing_or_invalid_user_file(tmp_path):
    with pytest.raises(TaxonomyError, match="no such taxonomy file"):
        load_taxonomy(tmp_path / "none.json")
    f = tmp_path / "broken.json"
    f.write_text('{"aliases": \n')
    with pytest.raises(TaxonomyError, match=f"{f}:2: invalid JSON"):
        load_taxonomy(f)


def test_docstring_documents_every_default_alias():
    table = json.loads(taxonomy_module.DEFAULT_TABLE.read_text())
    doc = normalise_name(" ".join(taxonomy_module.__doc__.split()))
    for canonical, names in table["aliases"].items():
        assert canonical in taxonomy_module.__doc__
        for name in names:
            assert normalise_name(name) in doc, name
