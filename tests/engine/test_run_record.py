"""The run record beside a score-dir output: what its rows were scored with."""

import torch

from cleverward.engine.config import DecodeConfig
from cleverward.engine.run_record import (
    load_run_record,
    model_identity,
    run_record_path,
    save_run_record,
)


class _Model:
    def __init__(self, weight: float) -> None:
        self.head = torch.nn.Linear(2, 2)
        torch.nn.init.constant_(self.head.weight, weight)
        torch.nn.init.zeros_(self.head.bias)

    def fingerprint(self) -> str:
        return "encoder-1"


def test_identity_changes_with_weights_and_frames():
    base = model_identity(_Model(0.5), DecodeConfig(frames=8, decoder="pyav"))
    assert base == model_identity(_Model(0.5), DecodeConfig(frames=8, decoder="pyav"))
    assert base != model_identity(_Model(0.25), DecodeConfig(frames=8, decoder="pyav"))
    assert base != model_identity(_Model(0.5), DecodeConfig(frames=4, decoder="pyav"))
    assert base == model_identity(_Model(0.5), DecodeConfig(frames=8, decoder="dali"))


def test_record_round_trip_and_unreadable_record(tmp_path):
    out = tmp_path / "scores.jsonl"
    assert load_run_record(out) is None
    record = {"version": 1, "models": {"default": {"identity": {"head": "x"}, "videos": {}}}}
    save_run_record(out, record)
    assert run_record_path(out).name == "scores.jsonl.cwrun.json"
    assert load_run_record(out) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.jsonl.cwrun.json"]
    run_record_path(out).write_text("{torn")
    assert load_run_record(out) is None
