"""Grouping pairs into figure records, by hand."""

from __future__ import annotations

import pytest

from cleverward.train.bootstrap import BootstrapConfig
from cleverward.train.conventions import FigureParams
from cleverward.train.eval_report import format_pair_table, pair_records, score_records


def _rows():
    def row(dataset, dimension, prompt, tie=False, kind="vote"):
        return {"dataset": dataset, "dimension": dimension, "prompt": prompt, "tie": tie,
                "kind": kind}
    return [row("gb", "overall", "p"), row("gb", "overall", "q"),
            row("gb", "overall", "q", tie=True), row("vf", "dynamism", "p", kind="score"),
            row("vf", "textual_alignment", "r", kind="negative")]


def _get(records, dataset, dimension, metric, convention="cleverward"):
    (r,) = [r for r in records if (r["dataset"], r["dimension"], r["metric"],
                                   r["convention"]) == (dataset, dimension, metric, convention)]
    return r


def test_groups_by_dataset_and_dimension_and_keeps_negatives_apart():
    # diffs: gb overall +0.4 right, -0.1 wrong, tie 0.05; vf dynamism +1.0 right; the negative
    # -0.2 wrong
    records = pair_records(_rows(), [0.4, -0.1, 0.05, 1.0, -0.2], "m", (),
                           FigureParams(tie_threshold=0.1), BootstrapConfig(0))
    gb = _get(records, "gb", "overall", "acc_no_ties")
    assert (gb["value"], gb["n"]) == (0.5, 2)
    thr = _get(records, "gb", "overall", "acc_tie_threshold")
    assert (thr["value"], thr["n"]) == (pytest.approx(2 / 3), 3)  # 0.05 < 0.1: the tie right
    assert {(r["dataset"], r["dimension"]) for r in records} == {
        ("all", "all"), ("all", "overall"), ("all", "dynamism"),
        ("all", "textual_alignment[negative]"), ("gb", "overall"), ("vf", "dynamism"),
        ("vf", "textual_alignment[negative]")}
    # the headline: human-labelled pairs only (the negative left out): right, wrong, right
    head = _get(records, "all", "all", "acc_no_ties")
    assert (head["value"], head["n"]) == (pytest.approx(2 / 3), 3)
    assert _get(records, "all", "textual_alignment[negative]", "acc_no_ties")["value"] == 0.0
    text = format_pair_table(records)
    assert text.splitlines()[0].split()[:4] == ["dataset", "dimension", "n", "ties"]
    assert "textual_alignment[negative]" in text
    with pytest.raises(ValueError, match="5 rows but 2 diffs"):
        pair_records(_rows(), [1, 2], "m", (), FigureParams(), BootstrapConfig(0))


def test_score_records():
    targets = [{"dataset": d, "dimension": "overall", "prompt": f"p{i}", "target": t}
               for i, (d, t) in enumerate(zip("tttuu", [1, 2, 3, 5, 4], strict=True))]
    records = score_records(targets, [0.1, 0.2, 0.4, 0.3, 0.9], "m", BootstrapConfig(0))
    assert _get(records, "t", "overall", "srcc")["value"] == pytest.approx(1.0)
    assert _get(records, "u", "overall", "srcc")["value"] == pytest.approx(-1.0)
    assert _get(records, "t", "overall", "krcc")["value"] == pytest.approx(1.0)
    assert _get(records, "t", "overall", "plcc")["n"] == 3
