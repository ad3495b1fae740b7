"""Regression targets read back from pairs rows: which rows give targets, and the exact record."""

from cleverward.train.targets import regression_targets


def _score(chosen, rejected, sc, sr, **kw):
    return {"kind": "score", "dataset": "t2vqa", "dimension": "overall", "prompt": "a cat",
            "chosen": chosen, "rejected": rejected, "score_chosen": sc, "score_rejected": sr} | kw


def test_targets_skip_non_score_rows_and_keep_the_first_score_seen():
    rows = [
        {"kind": "vote", "dataset": "genai", "dimension": "overall", "prompt": "a cat",
         "chosen": "x.mp4", "rejected": "y.mp4", "score_chosen": 0.9, "score_rejected": 0.1},
        _score("a.mp4", "b.mp4", None, None),  # a score row without scores gives nothing
        _score("a.mp4", "b.mp4", 1.0, 0.25),
        _score("c.mp4", "a.mp4", 0.5, 0.75),  # a.mp4 again: its first target (1.0) is kept
        _score("a.mp4", "b.mp4", 0.8, 0.2, dimension="dynamism"),
    ]
    assert regression_targets(rows) == [
        {"dataset": "t2vqa", "dimension": "overall", "prompt": "a cat", "video": "a.mp4",
         "target": 1.0},
        {"dataset": "t2vqa", "dimension": "overall", "prompt": "a cat", "video": "b.mp4",
         "target": 0.25},
        {"dataset": "t2vqa", "dimension": "overall", "prompt": "a cat", "video": "c.mp4",
         "target": 0.5},
        {"dataset": "t2vqa", "dimension": "dynamism", "prompt": "a cat", "video": "a.mp4",
         "target": 0.8},
        {"dataset": "t2vqa", "dimension": "dynamism", "prompt": "a cat", "video": "b.mp4",
         "target": 0.2},
    ]
