"""Pair mining: near-duplicate groups, label merging, the cross-dataset rule, hard negatives."""

import numpy as np
import pytest

from cleverward.train import mining


def _unit(*rows):
    x = np.array(rows, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# items 0, 1, 2: one clip in three datasets' copies (1 links 0 and 2); 3: another clip;
# 4: a look-alike of 3 inside the same dataset (distinct sample)
EMB = _unit([1, 0, 0, 0], [1, 0.05, 0, 0], [1, 0.1, 0.02, 0], [0, 0, 1, 0], [0, 0, 1, 0.05])
DATASETS = ["t2vqa", "videofeedback", "t2vqa", "genai", "genai"]


def test_near_duplicates_link_across_datasets_transitively():
    assert mining.near_duplicate_groups(EMB, 0.99, DATASETS) == [[0, 1, 2]]
    assert mining.near_duplicate_groups(EMB, 0.99) == [[0, 1, 2], [3, 4]]  # no dataset filter
    assert mining.near_duplicate_groups(EMB, 0.9999, DATASETS) == []
    links = mining.near_duplicate_links(EMB, 0.99, DATASETS)
    assert links.tolist() == [[0, 1], [1, 2]]  # 0-2 are the same dataset: linked only via 1


def test_canonical_ids_and_map():
    groups = [[0, 1, 2]]
    assert mining.canonical_ids(5, groups).tolist() == [0, 0, 0, 3, 4]
    videos = ["a.mp4", "vf/a.webm", "a_copy.mp4", "b.mp4", "c.mp4"]
    assert mining.canonical_map(videos, groups) == {"a.mp4": "a.mp4", "vf/a.webm": "a.mp4",
                                                    "a_copy.mp4": "a.mp4"}


def pair(dataset, chosen, rejected, prompt="p", dimension="overall", tie=False):
    return {"dataset": dataset, "dimension": dimension, "prompt": prompt, "chosen": chosen,
            "rejected": rejected, "tie": tie, "margin": 1.0}


CANON = {"x/a.mp4": "a", "y/a.mp4": "a"}


def test_one_comparison_from_two_datasets_is_one_pair():
    pairs = [pair("X", "x/a.mp4", "b"), pair("Y", "y/a.mp4", "b"),  # same comparison
             pair("X", "x/a.mp4", "b"),  # X's second vote: kept, it is X's own weighting
             pair("Y", "c", "y/a.mp4"), pair("Y", "b", "y/a.mp4"),  # b > a contradicts a > b
             pair("X", "x/a.mp4", "y/a.mp4"),  # a clip against its own copy
             pair("X", "b", "y/a.mp4", tie=True), pair("Y", "x/a.mp4", "b", tie=True)]
    merged, stats = mining.merge_duplicate_pairs(pairs, CANON)
    firsts = [p for p in merged if (p["chosen"], p["rejected"], p["tie"]) == ("a", "b", False)]
    assert [p["datasets"] for p in firsts] == [["X", "Y"], ["X"]]
    assert firsts[0]["dataset"] == "X+Y"
    ties = [p for p in merged if p["tie"]]
    assert len(ties) == 1 and ties[0]["datasets"] == ["X", "Y"]  # a tie has no direction
    assert stats == {"self_pairs_dropped": 1, "merged": 2, "contradictions": 1,
                     "kept": len(merged)}
    assert len(merged) == 5


def test_cross_dataset_pairs_only_by_the_rule():
    base = [pair("X", "c", "x/a.mp4"), pair("Y", "y/a.mp4", "r")]
    (made,) = mining.cross_dataset_pairs(base, CANON)
    assert (made["chosen"], made["rejected"], made["via"]) == ("c", "r", "a")
    assert made["dataset"] == "cross:X>Y" and made["datasets"] == ["X", "Y"]
    not_comparable = {
        "other dimension": [base[0], {**base[1], "dimension": "dynamism"}],
        "other prompt": [base[0], {**base[1], "prompt": "q"}],
        "same dataset": [base[0], {**base[1], "dataset": "X"}],
        "a tie": [base[0], {**base[1], "tie": True}],
        "a mined pair": [base[0], {**base[1], "dataset": "mined:prompt"}],
        "already ordered": [*base, pair("Z", "r", "c")],
        "no shared clip": [pair("X", "c", "x/a.mp4"), pair("Y", "other", "r")],
    }
    for why, pairs in not_comparable.items():
        assert mining.cross_dataset_pairs(pairs, CANON) == [], why


# prompts: 0 and 1 are neighbours (cos 0.8), 2 paraphrases 0 (cos 0.98), 3 is unrelated
PROMPTS = _unit([1, 0, 0], [0.8, 0.6, 0], [0.98, 0.199, 0], [0, 0, 1])


def test_negatives_by_prompt_skip_paraphrases_and_own_prompt():
    # items: two videos of prompt 0, one of 1, one of 2, one of 3
    pid = [0, 0, 1, 2, 3]
    emb = PROMPTS[pid]
    negs = mining.negatives_by_prompt(emb, pid, k=1, max_similarity=0.9)
    by_anchor = {i: j for i, j, _ in negs}
    assert by_anchor[0] == 2 and by_anchor[1] == 2  # prompt 1 is 0's nearest non-paraphrase
    assert by_anchor[2] == 0  # prompt 1: 2 is a paraphrase of it too (0.903), 0 is next (0.8)
    assert by_anchor[3] == 4  # prompt 2 paraphrases both 0 and 1: only 3 is left
    assert all(pid[i] != pid[j] for i, j, _ in negs)
    sims = {i: s for i, _, s in negs}
    assert sims[0] == pytest.approx(0.8, abs=1e-5)
    # a duplicate-group partner is never a negative
    canon = np.array([0, 1, 0, 3, 4])
    negs = mining.negatives_by_prompt(emb, pid, k=2, max_similarity=0.9, canonical=canon)
    assert (0, 2) not in {(i, j) for i, j, _ in negs}


def test_negatives_by_video_are_look_alikes_of_other_prompts():
    videos = _unit([1, 0], [0.99, 0.1], [0.95, 0.3], [0, 1])
    pid = [0, 0, 1, 3]  # 0 and 1 share a prompt
    negs = mining.negatives_by_video(videos, PROMPTS[pid], pid, k=1, max_prompt_similarity=0.85)
    assert {i: j for i, j, _ in negs}[0] == 2  # 1 is nearer but has the same prompt
    rows = mining.negative_pairs(negs, ["v0", "v1", "v2", "v3"], ["p0", "p0", "p1", "p3"],
                                 "video")
    assert rows[0] == {"dataset": "mined:video", "dimension": "textual_alignment",
                       "prompt": "p0", "chosen": "v0", "rejected": "v2", "tie": False,
                       "margin": None, "similarity": pytest.approx(negs[0][2], abs=1e-4)}


def test_re_encoded_clip_is_found_on_real_embeddings(tmp_path):
    """The same clip as H.264 and as VP9 (two datasets) links; a different clip does not."""
    from cleverward.engine.cache_api import NullCache
    from cleverward.engine.model import RewardModel
    from cleverward.engine.video_index import embed_videos
    from tests.clips import write_clip

    write_clip(tmp_path / "a.mp4", "h264", frames=16, size=(96, 128))
    write_clip(tmp_path / "a.webm", "vp9", frames=16, size=(96, 128))
    write_clip(tmp_path / "b.mp4", "h264", frames=16, size=(96, 128),
               pattern=lambda i, s: np.full((*s, 3), (40 * i) % 255, np.uint8))
    model = RewardModel.from_pretrained("default")
    items = [(n, str(tmp_path / n)) for n in ("a.mp4", "a.webm", "b.mp4")]
    got = embed_videos(items, model, NullCache(), model.decode_config(8))
    emb = np.stack([got.vectors[k] for k, _ in items])
    assert mining.near_duplicate_groups(emb, 0.95, ["t2vqa", "vf", "t2vqa"]) == [[0, 1]]
