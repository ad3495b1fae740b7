"""Untrusted state on disk (issue 14): bad annotation and pairs files, bad checkpoints, planted
pickles. The corpus lives in benchmarks/reliability_state.py (which counts it for the
reliability report); here every case is a test: the call must raise the project's own error,
with a one-line message that starts with the file (and line) and says what is wrong, and a
planted pickle's marker file must not exist afterwards."""

from __future__ import annotations

import json

import pytest
import torch

from cleverward.benchmarks.reliability_state import cases, plant_pickle

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}: {c.name}" for c in CASES])
def test_bad_state_is_refused_by_name(case, tmp_path):
    trial = case.build(tmp_path)
    with pytest.raises(case.errors) as info:
        trial.call()
    message = str(info.value)
    assert message.startswith(f"{trial.where}:"), message
    assert trial.fragment in message, message
    assert "\n" not in message
    if trial.marker is not None:
        assert not trial.marker.exists(), "the planted pickle ran"


def test_the_corpus_covers_every_kind_the_issue_names():
    names = {(c.family, c.name) for c in CASES}
    for fmt in ("t2vqa", "videofeedback", "genai-bench", "videogen-rewardbench", "jsonl"):
        assert sum(f == "annotation" and n.startswith(fmt + ":") for f, n in names) >= 5, fmt
    for kind in ('"chosen": 42', "a string row", '"margin": "big"'):
        assert ("pairs", kind) in names
    assert sum(f == "pickle" for f, _ in names) >= 6
    assert sum(f == "checkpoint" for f, _ in names) >= 20


def test_a_planted_pickle_runs_when_unpickled_unsafely(tmp_path):
    """The control that gives "marker absent" its meaning: the same plant, loaded the way
    DeepSpeed and transformers' .bin path do, creates its marker."""
    marker = tmp_path / "EXECUTED"
    torch.load(plant_pickle(tmp_path / "state.pt", marker), weights_only=False)
    assert marker.exists()


def test_resume_uses_the_manifests_tag_when_a_kill_cut_the_next_save(tmp_path):
    """DeepSpeed wrote epoch1 and `latest` = epoch1, then the run died before its manifest: the
    manifest still names epoch0, which is whole, so that is where the run resumes."""
    from cleverward.train.resume_state import verify_state, write_manifest

    folder = tmp_path / "deepspeed"
    for tag in ("epoch0", "epoch1"):
        (folder / tag).mkdir(parents=True)
        torch.save({"w": torch.ones(2)}, folder / tag / "mp_rank_00_model_states.pt")
    write_manifest(folder, "epoch0")
    (folder / "latest").write_text("epoch1")
    assert verify_state(folder) == "epoch0"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert list(manifest["files"]) == ["epoch0/mp_rank_00_model_states.pt"]


def test_a_tower_fingerprint_covers_every_weight_file_that_loads(tmp_path):
    """Sharded safetensors load through their index: changing the index (which shard holds a
    tensor) or any shard changes the fingerprint; a .bin beside them (never loaded) does not."""
    from cleverward.engine.encoders.hf_towers import folder_fingerprint

    (tmp_path / "config.json").write_text("{}")
    for name, data in (("model-00001-of-00002.safetensors", b"a"),
                       ("model-00002-of-00002.safetensors", b"b"),
                       ("model.safetensors.index.json", b'{"weight_map": {}}')):
        (tmp_path / name).write_bytes(data)
    base = folder_fingerprint(tmp_path, "x")
    (tmp_path / "pytorch_model.bin").write_bytes(b"ignored")
    assert folder_fingerprint(tmp_path, "x") == base
    (tmp_path / "model.safetensors.index.json").write_bytes(b'{"weight_map": {"w": 2}}')
    changed_index = folder_fingerprint(tmp_path, "x")
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"c")
    assert len({base, changed_index, folder_fingerprint(tmp_path, "x")}) == 3


def test_a_fifo_named_as_a_pairs_or_annotation_file_is_refused_not_read(tmp_path):
    """Reading a FIFO with no writer blocks forever; it is refused by its type first."""
    import os

    from cleverward.train.datasets import AnnotationError, load_dataset
    from cleverward.train.datasets.records import read_text
    from cleverward.train.pairs_io import read_pairs

    fifo = tmp_path / "pairs.jsonl"
    os.mkfifo(fifo)
    for read in (read_pairs, read_text):
        with pytest.raises(AnnotationError, match=rf"^{fifo}:1: not a regular file$"):
            read(fifo)
    with pytest.raises(FileNotFoundError, match=f"not a regular file {fifo}"):
        load_dataset(f"jsonl:{fifo}")


def test_a_head_with_nan_weights_is_never_written(tmp_path):
    """What load refuses is not saved either: the old checkpoint stays as it was."""
    from cleverward.engine.checkpoint import CheckpointError
    from cleverward.engine.model import RewardModel

    model = RewardModel.from_pretrained("default")
    model.save_pretrained(tmp_path / "ck")
    before = (tmp_path / "ck" / "model.safetensors").read_bytes()
    with torch.no_grad():
        model.head.text_proj.bias[0] = float("nan")
    with pytest.raises(CheckpointError, match=r"not written: tensor 'text_proj.bias' holds NaN"):
        model.save_pretrained(tmp_path / "ck")
    assert (tmp_path / "ck" / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_checkpoint_file_that_is_a_fifo_or_device_is_named_as_such(tmp_path, name):
    """Before: 'is missing' for a FIFO or a /dev/zero link that is there (never opened)."""
    import os
    import shutil

    from cleverward.engine.checkpoint import NAMED_MODELS, CheckpointError
    from cleverward.engine.model import RewardModel

    for kind, plant in (("a FIFO", os.mkfifo),
                        ("a character device", lambda p: os.symlink("/dev/zero", p))):
        folder = tmp_path / kind.replace(" ", "_")
        shutil.copytree(NAMED_MODELS["default"], folder)
        (folder / name).unlink()
        plant(folder / name)
        with pytest.raises(CheckpointError) as info:
            RewardModel.from_pretrained(folder)
        assert str(info.value) == f"{folder / name}: {kind}, not a regular file"
