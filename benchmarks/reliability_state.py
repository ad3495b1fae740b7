"""Untrusted state on disk: bad annotation / pairs files, bad checkpoints, planted pickles.

Every case builds one bad input in a temporary folder and names the call that must refuse it,
the error type, where the message must start (`file:line` for annotation and pairs files, the
file for checkpoints) and a fragment it must hold. A case is handled when the call raises that
error with a one-line message that starts there and holds the fragment (and, for a planted
pickle, when the pickle's marker file does not exist afterwards). tests/ runs every case as a
test; `run()` counts them for benchmarks/reliability.py:

    python -m cleverward.benchmarks.reliability_state      # prints the counts as JSON

A planted pickle's __reduce__ calls open(marker, "w"): loaded by torch.load(weights_only=False)
it creates the marker (run() checks that once as a control, so "0 executed" means something).
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEEP = 100_000  # nesting depth of the "deep" cases (the prompts file)


@dataclass(frozen=True)
class Trial:
    call: Callable[[], object]  # must raise
    where: str  # the message starts with f"{where}:"
    fragment: str  # and holds this
    marker: Path | None = None  # planted pickles: must not exist after the call


@dataclass(frozen=True)
class Case:
    family: str  # "annotation" | "pairs" | "checkpoint" | "pickle"
    name: str
    build: Callable[[Path], Trial]
    errors: tuple[type, ...]


class Plant:
    """Pickles to a call of open(marker, "w"): the file appears iff the pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_pickle(path: Path, marker: Path) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"module": Plant(marker)}, path)
    return path


# -- annotation files ----------------------------------------------------------------------------

def _annotation(fmt: str, name: str, content: str | bytes, line: int, fragment: str):
    def build(tmp: Path) -> Trial:
        from cleverward.train.datasets import load_dataset

        f = tmp / name
        f.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        (tmp / "videos").mkdir(exist_ok=True)
        return Trial(lambda: load_dataset(f"{fmt}:{f}", videos_root=tmp / "videos"),
                     f"{f}:{line}", fragment)
    return build


def _j(obj) -> str:
    return json.dumps(obj)


_SCORED = {"video": "a.mp4", "prompt": "a cat", "scores": {"overall": 3}}
_PAIR = {"prompt": "a cat", "chosen": "a.mp4", "rejected": "b.mp4"}
_VF = {"id": "1", "images": ["1_00.jpg"], "conversations": [
    {"from": "human", "value": 'the text prompt is "a cat",\nall the frames'},
    {"from": "gpt", "value": "visual quality: 3"}]}
_GB = {"prompt": "a cat", "video_left": "a.mp4", "video_right": "b.mp4", "vote_type": "leftvote"}
_VGRB_HEAD = "path_A,path_B,prompt,VQ\n"
_DEEP_JSON = "[" * DEEP + "]" * DEEP


def _vf(record_text: str) -> str:  # a JSON array with the record on line 2
    return "[\n" + record_text + "\n]\n"


ANNOTATION_KINDS = [
    ("t2vqa", "latin-1 bytes", "info.txt", b"a.mp4|a cat|3\nb.mp4|caf\xe9 au lait|4\n", 2,
     "not UTF-8 text (byte 0xe9"),
    ("t2vqa", "../../../../etc/passwd", "info.txt", "../../../../etc/passwd|a cat|3\n", 1,
     "leaves the videos root"),
    ("t2vqa", "absolute path outside the root", "info.txt", "/etc/passwd.mp4|a cat|3\n", 1,
     "leaves the videos root"),
    ("t2vqa", "NaN MOS", "info.txt", "a.mp4|a cat|3\nb.mp4|a cat|nan\n", 2, "is not a number"),
    ("t2vqa", "inf MOS", "info.txt", "a.mp4|a cat|inf\n", 1, "is not a number"),
    ("t2vqa", "too few fields", "info.txt", "a.mp4|3\n", 1, "expected 'filename|prompt|MOS'"),
    ("t2vqa", "NUL byte", "info.txt", "a.mp4|a\x00cat|3\n", 1, "NUL byte"),
    ("videofeedback", "images not a list", "data.json", _vf(_j({**_VF, "images": "1.jpg"})), 2,
     "'images' must be a non-empty list"),
    ("videofeedback", "conversations not a list", "data.json",
     _vf(_j({**_VF, "conversations": 5})), 2, "'conversations' must be a list"),
    ("videofeedback", "id climbing out of the root", "data.json",
     _vf(_j({**_VF, "id": "../../../etc"})), 2, "leaves the videos root"),
    ("videofeedback", "nested 100,000 deep", "data.json",
     _vf('{"id": "1", "images": ["a.jpg"], "x": ' + _DEEP_JSON + "}"), 2, "nested deeper"),
    ("videofeedback", "lone surrogate", "data.json",
     _vf(_j(_VF)[:-1] + ', "text prompt": "\\ud800"}'), 2, "lone surrogate \\ud800"),
    ("videofeedback", "NaN literal score", "data.json",
     _vf('{"id": "1", "images": ["a.jpg"], "visual quality": NaN}'), 2,
     "NaN is not a JSON number"),
    ("videofeedback", "misspelt Conversations", "data.json",
     _vf(_j({"id": "1", "images": ["a.jpg"], "Conversations": []})), 2,
     "unknown key 'Conversations' (did you mean 'conversations'?)"),
    ("videofeedback", "score outside 1-4", "data.json",
     _vf(_j({**_VF, "conversations": [_VF["conversations"][0],
                                       {"from": "gpt", "value": "visual quality: 9"}]})), 2,
     "scores outside 1-4"),
    ("genai-bench", "vote_type a number", "gb.jsonl", _j({**_GB, "vote_type": 42}) + "\n", 1,
     "vote_type 42 not one of"),
    ("genai-bench", "video a number", "gb.jsonl", _j(_GB) + "\n" + _j({**_GB, "video_left": 42}),
     2, "'video_left' must be a non-empty string"),
    ("genai-bench", "misspelt Prompt", "gb.jsonl",
     _j({k if k != "prompt" else "Prompt": v for k, v in _GB.items()}) + "\n", 1,
     "unknown key 'Prompt' (did you mean 'prompt'?)"),
    ("genai-bench", "URL climbing out", "gb.jsonl",
     _j({**_GB, "video_left": "https://h/videos/.."}) + "\n", 1, "leaves the videos root"),
    ("genai-bench", "key given twice", "gb.jsonl",
     _j(_GB)[:-1] + ', "video_left": "../../../etc/passwd"}' + "\n", 1,
     "key 'video_left' appears twice in one object"),
    ("genai-bench", "a string row", "gb.jsonl", _j(_GB) + "\n" + '"just text"\n', 2,
     "expected a JSON object, got str"),
    ("videogen-rewardbench", "unterminated quote", "vg.csv",
     _VGRB_HEAD + "a.mp4,b.mp4,p,A\n" + 'c.mp4,d.mp4,"a cat,A\ne.mp4,f.mp4,p,B\n', 3,
     "a quoted field opened here never closes"),
    ("videogen-rewardbench", "too many fields", "vg.csv", _VGRB_HEAD + "a.mp4,b.mp4,p,A,x\n", 2,
     "expected 4 fields, got 5"),
    ("videogen-rewardbench", "too few fields", "vg.csv", _VGRB_HEAD + "a.mp4,b.mp4\n", 2,
     "expected 4 fields, got 2"),
    ("videogen-rewardbench", "label not A/B/same", "vg.csv", _VGRB_HEAD + "a.mp4,b.mp4,p,C\n", 2,
     "VQ label 'C'"),
    ("videogen-rewardbench", "path climbing out", "vg.csv",
     _VGRB_HEAD + "../../x.mp4,b.mp4,p,A\n", 2, "leaves the videos root"),
    ("videogen-rewardbench", "latin-1 bytes", "vg.csv",
     (_VGRB_HEAD + "a.mp4,b.mp4,caf").encode() + b"\xe9,A\n", 2, "not UTF-8 text"),
    ("videogen-rewardbench", "quote inside a field", "vg.csv",
     _VGRB_HEAD + 'a.mp4,b.mp4,"x"y,A\n', 2, "CSV:"),
    ("videogen-rewardbench", "line break in the prompt", "vg.csv",
     _VGRB_HEAD + 'a.mp4,b.mp4,"two\nlines",A\n', 2, "line break"),
    ("jsonl", "misspelt Video", "g.jsonl",
     _j({"Video": "a.mp4", "prompt": "p", "scores": {"o": 1}}) + "\n", 1,
     "unknown key 'Video' (did you mean 'video'?)"),
    ("jsonl", "unknown key", "g.jsonl", _j({**_SCORED, "weight": 2}) + "\n", 1,
     "unknown key 'weight'"),
    ("jsonl", '"chosen": 42', "g.jsonl", _j({**_PAIR, "chosen": 42}) + "\n", 1,
     "'chosen' must be a non-empty string"),
    ("jsonl", '"tie": "yes"', "g.jsonl", _j({**_PAIR, "tie": "yes"}) + "\n", 1,
     "'tie' must be true or false"),
    ("jsonl", '"vote": 42', "g.jsonl", _j({**_PAIR, "vote": 42}) + "\n", 1,
     "'vote' must be a string or null"),
    ("jsonl", "NaN score", "g.jsonl", '{"video": "a.mp4", "prompt": "p", "scores": {"o": NaN}}',
     1, "NaN is not a JSON number"),
    ("jsonl", "Infinity score", "g.jsonl",
     _j(_SCORED) + '\n{"video": "b.mp4", "prompt": "p", "scores": {"o": -Infinity}}', 2,
     "-Infinity is not a JSON number"),
    ("jsonl", "1e999 score", "g.jsonl", '{"video": "a.mp4", "prompt": "p", "scores": {"o": 1e999}}',
     1, "out of range"),
    ("jsonl", "score as a string", "g.jsonl", _j({**_SCORED, "scores": {"o": "3"}}), 1,
     "non-numeric score"),
    ("jsonl", "../../../../etc/passwd", "g.jsonl",
     _j({**_SCORED, "video": "../../../../etc/passwd"}), 1, "leaves the videos root"),
    ("jsonl", "nested 100,000 deep", "g.jsonl", _j(_SCORED)[:-1] + ', "x": ' + _DEEP_JSON + "}",
     1, "nested deeper"),
    ("jsonl", "lone surrogate", "g.jsonl", _j({**_SCORED, "prompt": "\ud800"}), 1,
     "lone surrogate"),
    ("jsonl", "prompt given twice", "g.jsonl", _j(_SCORED)[:-1] + ', "prompt": "a dog"}', 1,
     "key 'prompt' appears twice in one object"),
    ("videofeedback", "key given twice in a nested object", "data.json",
     _vf(_j(_VF).replace('"from": "gpt",', '"from": "gpt", "from": "human",')), 2,
     "key 'from' appears twice in one object"),
    ("jsonl", "text after the value", "g.jsonl", _j(_SCORED) + " x\n", 1, "extra data"),
    ("jsonl", "latin-1 bytes", "g.jsonl", _j(_SCORED).encode() + b"\n\xff\n", 2, "not UTF-8"),
]


# -- pairs files ---------------------------------------------------------------------------------

def _good_pair() -> dict:
    from cleverward.train.pairs_io import make_row

    return make_row("d", "overall", "a cat", "a.mp4", "b.mp4", kind="score", margin=0.5,
                    score_chosen=1.0, score_rejected=0.5, source="x:1")


def _pairs_text(name: str, second: str | bytes, line: int, fragment: str):
    def build(tmp: Path) -> Trial:
        from cleverward.train.pairs_io import read_pairs

        f = tmp / name
        head = (json.dumps(_good_pair()) + "\n").encode()
        f.write_bytes(head + (second if isinstance(second, bytes) else second.encode()))
        return Trial(lambda: read_pairs(f), f"{f}:{line}", fragment)
    return build


def _pairs_row(change: dict, fragment: str):
    row = {**_good_pair(), **change}
    return _pairs_text("pairs.jsonl", json.dumps(row) + "\n", 2, fragment)


def _parquet_garbage(tmp: Path) -> Trial:
    from cleverward.train.pairs_io import read_pairs

    f = tmp / "pairs.parquet"
    f.write_bytes(b"PAR1 not really")
    return Trial(lambda: read_pairs(f), f"{f}:1", "not a readable Parquet file")


def _parquet_bad_type(tmp: Path) -> Trial:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cleverward.train.pairs_io import read_pairs

    f = tmp / "pairs.parquet"
    rows = [_good_pair(), {**_good_pair(), "margin": None}]
    pq.write_table(pa.Table.from_pylist(rows), f)
    return Trial(lambda: read_pairs(f), f"{f}:2", "'margin' must be a finite number")


PAIRS_KINDS = [
    ('"chosen": 42', _pairs_row({"chosen": 42}, "'chosen' must be a non-empty string")),
    ("a string row", _pairs_text("pairs.jsonl", '"a.mp4 beats b.mp4"\n', 2,
                                 "expected a JSON object, got str")),
    ('"margin": "big"', _pairs_row({"margin": "big"}, "'margin' must be a finite number")),
    ('"margin": NaN', _pairs_text("pairs.jsonl", json.dumps(_good_pair())[:-1].replace(
        '"margin": 0.5', '"margin": NaN') + "}\n", 2, "NaN is not a JSON number")),
    ("negative margin", _pairs_row({"margin": -1}, "'margin' must be a finite number >= 0")),
    ('"tie": "yes"', _pairs_row({"tie": "yes"}, "'tie' must be true or false")),
    ("misspelt Chosen", _pairs_text("pairs.jsonl", json.dumps(
        {k if k != "chosen" else "Chosen": v for k, v in _good_pair().items()}) + "\n", 2,
        "unknown key 'Chosen' (did you mean 'chosen'?)")),
    ("missing column", _pairs_text("pairs.jsonl", json.dumps(
        {k: v for k, v in _good_pair().items() if k != "margin"}) + "\n", 2,
        "pair row lacks margin")),
    ("path climbing out", _pairs_row({"rejected": "../../etc/passwd"}, "climbs out")),
    ("score_chosen 1e999", _pairs_text("pairs.jsonl", json.dumps(_good_pair()).replace(
        '"score_chosen": 1.0', '"score_chosen": 1e999') + "\n", 2, "out of range")),
    ("score_rejected a string", _pairs_row({"score_rejected": "0.5"},
                                           "'score_rejected' must be a finite number")),
    ('"kind": "x"', _pairs_row({"kind": "x"}, "'kind' 'x' not one of")),
    ("dimension not canonical", _pairs_row({"dimension": "VQ"},
                                           "'dimension' 'VQ' is not one of overall")),
    ("prompt null", _pairs_row({"prompt": None}, "'prompt' must be a non-empty string")),
    ("nested 100,000 deep", _pairs_text("pairs.jsonl", json.dumps(_good_pair())[:-1]
                                        + ', "x": ' + _DEEP_JSON + "}\n", 2, "nested deeper")),
    ("lone surrogate", _pairs_row({"prompt": "\ud800"}, "lone surrogate")),
    ("latin-1 bytes", _pairs_text("pairs.jsonl", b'{"prompt": "caf\xe9"}\n', 2, "not UTF-8")),
    ("chosen given twice", _pairs_text("pairs.jsonl", json.dumps(_good_pair())[:-1]
                                       + ', "chosen": "c.mp4"}\n', 2,
                                       "key 'chosen' appears twice in one object")),
    ("Parquet: not a Parquet file", _parquet_garbage),
    ("Parquet: margin null", _parquet_bad_type),
]


# -- checkpoints ---------------------------------------------------------------------------------

def _default_copy(tmp: Path) -> Path:
    from cleverward.engine.checkpoint import NAMED_MODELS

    folder = tmp / "ckpt"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(NAMED_MODELS["default"] / name, folder / name)
    return folder


def _load(folder: Path) -> Callable[[], object]:
    from cleverward.engine.model import RewardModel

    return lambda: RewardModel.from_pretrained(folder)


def _config_edit(edit: Callable[[dict], object], fragment: str, where: str = "config.json"):
    def build(tmp: Path) -> Trial:
        folder = _default_copy(tmp)
        data = json.loads((folder / "config.json").read_text())
        edit(data)
        (folder / "config.json").write_text(json.dumps(data))
        return Trial(_load(folder), str(folder / where), fragment)
    return build


def _config_bytes(content: bytes, fragment: str):
    def build(tmp: Path) -> Trial:
        folder = _default_copy(tmp)
        (folder / "config.json").write_bytes(content)
        return Trial(_load(folder), str(folder / "config.json"), fragment)
    return build


def _weights_bytes(edit: Callable[[bytes, Path], bytes], fragment: str):
    def build(tmp: Path) -> Trial:
        folder = _default_copy(tmp)
        f = folder / "model.safetensors"
        f.write_bytes(edit(f.read_bytes(), tmp))
        return Trial(_load(folder), str(f), fragment)
    return build


def _tensors_edit(edit: Callable[[dict], object], fragment: str):
    def build(tmp: Path) -> Trial:
        from safetensors.torch import load_file, save_file

        folder = _default_copy(tmp)
        f = folder / "model.safetensors"
        state = load_file(str(f))
        edit(state)
        save_file(state, str(f))
        return Trial(_load(folder), str(f), fragment)
    return build


def _nan(state: dict) -> None:
    state["text_proj.weight"][3, 5] = float("nan")


def _inf(state: dict) -> None:
    state["video_offsets"][0, 0] = float("-inf")


def _torch_zip(data: bytes, tmp: Path) -> bytes:
    import torch

    torch.save({"w": torch.zeros(2)}, tmp / "z.pt")
    return (tmp / "z.pt").read_bytes()


def _narrow_head(tmp: Path) -> Trial:
    """Weights that match their config, but the config's video_dim is not the encoder's."""
    from cleverward.engine.checkpoint import CheckpointConfig, save_checkpoint
    from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

    head = RewardHeadConfig(video_dim=100, text_dim=384, embed_dim=16)
    folder = tmp / "narrow"
    save_checkpoint(folder, CheckpointConfig("conse-mobilenetv2", "minilm-l6", head.to_dict()),
                    RewardHead(head).state_dict())
    return Trial(_load(folder), str(folder / "config.json"),
                 "head.video_dim is 100 but the video encoder 'conse-mobilenetv2' outputs")


def _set(key: str, value):
    def edit(data: dict) -> None:
        *parents, last = key.split(".")
        for p in parents:
            data = data[p]
        data[last] = value
    return edit


CHECKPOINT_KINDS = [
    ("garbage bytes", _weights_bytes(lambda d, t: b"\x13\x37" * 500, "truncated or not a "
                                     "safetensors file")),
    ("truncated at half", _weights_bytes(lambda d, t: d[: len(d) // 2],
                                         "not a readable safetensors file")),
    ("header cut", _weights_bytes(lambda d, t: d[:100], "truncated or not a safetensors file")),
    ("header not JSON", _weights_bytes(lambda d, t: struct.pack("<Q", 4) + b"abcd",
                                       "no JSON header")),
    ("empty file", _weights_bytes(lambda d, t: b"", "truncated")),
    ("torch.save zip named model.safetensors", _weights_bytes(_torch_zip, "is a pickle")),
    ("NaN weight", _tensors_edit(_nan, "tensor 'text_proj.weight' holds 1 NaN or Inf")),
    ("-Inf weight", _tensors_edit(_inf, "tensor 'video_offsets' holds 1 NaN or Inf")),
    ("finite weights whose products overflow float32 (3e38)", _tensors_edit(
        lambda s: s["text_proj.weight"].fill_(3e38),
        "the text projection overflows float32 on a probe input")),
    ("finite weights whose norm overflows float32 (1e25)", _tensors_edit(
        lambda s: s["video_proj.weight"].fill_(1e25),
        "the video projection overflows float32 on a probe input")),
    ("missing tensor", _tensors_edit(lambda s: s.pop("text_offsets"),
                                     "missing ['text_offsets']")),
    ("extra tensor", _tensors_edit(lambda s: s.__setitem__("extra", s["logit_scale"].clone()),
                                   "unexpected ['extra']")),
    ("integer tensor", _tensors_edit(
        lambda s: s.__setitem__("logit_scale", s["logit_scale"].long()), "dtype torch.int64")),
    ("shape against config", _config_edit(_set("head.video_dim", 100),
                                          "tensor 'video_proj.weight' has shape (256, 1668), "
                                          "the head in config.json needs (256, 100)",
                                          where="model.safetensors")),
    ("width against the encoder", _narrow_head),
    ('"frames": 0', _config_edit(_set("frames", 0), "frames: must be an integer in 1..512")),
    ('"frames": "eight"', _config_edit(_set("frames", "eight"), "got 'eight'")),
    ('"frames": true', _config_edit(_set("frames", True), "got True")),
    ('"frames": 8.5', _config_edit(_set("frames", 8.5), "got 8.5")),
    ("missing text_encoder", _config_edit(lambda d: d.pop("text_encoder"),
                                          "missing key(s) text_encoder")),
    ("unknown key", _config_edit(_set("frame", 8), "unknown keys ['frame']")),
    ("head width a string", _config_edit(_set("head.embed_dim", "big"),
                                         "head.embed_dim: must be a positive integer")),
    ("head width negative", _config_edit(_set("head.text_dim", -3), "head.text_dim")),
    ("unknown encoder", _config_edit(_set("video_encoder", "nope"),
                                     "video_encoder 'nope': unknown video encoder")),
    ("encoder ./ path leaving the folder", _config_edit(
        _set("video_encoder", "clip:./../../elsewhere"), "leaves the checkpoint folder")),
    ("config not JSON", _config_bytes(b"{oops", "not valid JSON")),
    ("config latin-1", _config_bytes(b'{"video_encoder": "caf\xe9"}', "not UTF-8")),
    ("config a list", _config_bytes(b"[1, 2]", "expected a JSON object, got list")),
    ("config NaN", _config_bytes(b'{"frames": NaN}', "not valid JSON")),
    ("config nested 100,000 deep", _config_bytes(_DEEP_JSON.encode(), "not valid JSON")),
]


# -- planted pickles -----------------------------------------------------------------------------

def _resume_trial(folder: Path, marker: Path, fragment: str, where: Path) -> Trial:
    from cleverward.train.resume_state import safe_load, verify_state

    def resume() -> None:  # what the trainer does: verify, then DeepSpeed reads via safe_load
        tag = verify_state(folder)
        for f in sorted((folder / tag).glob("*.pt")):
            safe_load(str(f), map_location="cpu")

    return Trial(resume, str(where), fragment, marker)


def _state_folder(tmp: Path) -> Path:
    import torch

    folder = tmp / "run" / "deepspeed"
    (folder / "epoch0").mkdir(parents=True)
    (folder / "latest").write_text("epoch0")
    torch.save({"module": {"w": torch.zeros(3)}, "global_steps": 4},
               folder / "epoch0" / "mp_rank_00_model_states.pt")
    return folder


def _no_manifest(tmp: Path) -> Trial:
    folder = _state_folder(tmp)
    marker = tmp / "EXECUTED"
    plant_pickle(folder / "epoch0" / "mp_rank_00_model_states.pt", marker)
    return _resume_trial(folder, marker, "missing; its training state is not loaded",
                         folder / "manifest.json")


def _unlisted_file(tmp: Path) -> Trial:
    from cleverward.train.resume_state import write_manifest

    folder = _state_folder(tmp)
    write_manifest(folder, "epoch0")
    marker = tmp / "EXECUTED"
    f = plant_pickle(folder / "epoch0" / "zero_pp_rank_0_mp_rank_00_optim_states.pt", marker)
    return _resume_trial(folder, marker, "not in", f)


def _replaced_file(tmp: Path) -> Trial:
    from cleverward.train.resume_state import write_manifest

    folder = _state_folder(tmp)
    write_manifest(folder, "epoch0")
    marker = tmp / "EXECUTED"
    f = plant_pickle(folder / "epoch0" / "mp_rank_00_model_states.pt", marker)
    return _resume_trial(folder, marker, "changed since the run saved it", f)


def _forged_manifest(tmp: Path) -> Trial:
    from cleverward.train.resume_state import write_manifest

    folder = _state_folder(tmp)
    marker = tmp / "EXECUTED"
    f = plant_pickle(folder / "epoch0" / "mp_rank_00_model_states.pt", marker)
    write_manifest(folder, "epoch0")  # the attacker rewrote the digests too
    return _resume_trial(folder, marker, "refused unread", f)


def _tower_bin_only(side: str, kind: str):
    def build(tmp: Path) -> Trial:
        from cleverward.engine.encoders import build_text_encoder, build_video_encoder

        folder = tmp / "tower"
        marker = tmp / "EXECUTED"
        plant_pickle(folder / "pytorch_model.bin", marker)
        (folder / "config.json").write_text(json.dumps({"model_type": "clip"}))
        build = build_video_encoder if side == "video" else build_text_encoder

        def call():
            encoder = build(f"{kind}:{folder}")
            return encoder.tower  # what encoding would load

        return Trial(call, f"{kind}:{folder}", "holds only pickled weights (pytorch_model.bin)",
                     marker)
    return build


def _tower_named_safetensors(plant: str):
    """A tower folder whose model.safetensors is not one: a pickle under that name, or a FIFO
    (an open() of it would block). Before: a SafetensorError traceback from the ONNX export."""
    def build(tmp: Path) -> Trial:
        import os

        from cleverward.engine.encoders import build_video_encoder

        folder = tmp / "tower"
        marker = tmp / "EXECUTED"
        f = folder / "model.safetensors"
        if plant == "pickle":
            plant_pickle(f, marker)
        else:
            folder.mkdir()
            os.mkfifo(f)
        (folder / "config.json").write_text(json.dumps({"model_type": "clip"}))
        fragment = "is a pickle / torch.save file" if plant == "pickle" else "a FIFO"
        return Trial(lambda: build_video_encoder(f"clip:{folder}").tower, str(f), fragment,
                     marker)
    return build


def _checkpoint_pickle(tmp: Path) -> Trial:
    folder = _default_copy(tmp)
    marker = tmp / "EXECUTED"
    f = plant_pickle(folder / "model.safetensors", marker)
    return Trial(_load(folder), str(f), "is a pickle / torch.save file, not safetensors", marker)


PICKLE_KINDS = [
    ("resume state without a manifest", _no_manifest),
    ("resume state: a file the manifest does not list", _unlisted_file),
    ("resume state: a file replaced after the save", _replaced_file),
    ("resume state: a forged manifest (weights_only refuses)", _forged_manifest),
    ("clip: video tower folder with only pytorch_model.bin", _tower_bin_only("video", "clip")),
    ("clip: text tower folder with only pytorch_model.bin", _tower_bin_only("text", "clip")),
    ("t5: text folder with only pytorch_model.bin", _tower_bin_only("text", "t5")),
    ("checkpoint: a pickle named model.safetensors", _checkpoint_pickle),
    ("clip: tower folder with a pickle named model.safetensors",
     _tower_named_safetensors("pickle")),
    ("clip: tower folder whose model.safetensors is a FIFO", _tower_named_safetensors("fifo")),
]


def _error_types() -> dict[str, tuple[type, ...]]:
    from cleverward.engine.checkpoint import CheckpointError
    from cleverward.train.datasets import AnnotationError
    from cleverward.train.resume_state import ResumeStateError

    return {"annotation": (AnnotationError,), "pairs": (AnnotationError,),
            "checkpoint": (CheckpointError,),
            "pickle": (ResumeStateError, CheckpointError, FileNotFoundError)}


def cases() -> list[Case]:
    errors = _error_types()
    out = [Case("annotation", f"{fmt}: {name}", _annotation(fmt, file, content, line, frag),
                errors["annotation"])
           for fmt, name, file, content, line, frag in ANNOTATION_KINDS]
    out += [Case("pairs", name, build, errors["pairs"]) for name, build in PAIRS_KINDS]
    out += [Case("checkpoint", name, build, errors["checkpoint"])
            for name, build in CHECKPOINT_KINDS]
    out += [Case("pickle", name, build, errors["pickle"]) for name, build in PICKLE_KINDS]
    return out


def attempt(case: Case, tmp: Path) -> tuple[bool, bool, str]:
    """Build and run one case in tmp -> (handled, executed, the message or what went wrong)."""
    trial = case.build(tmp)
    try:
        trial.call()
    except case.errors as exc:
        message = str(exc)
        executed = bool(trial.marker and trial.marker.exists())
        ok = (message.startswith(f"{trial.where}:") and trial.fragment in message
              and "\n" not in message and not executed)
        return ok, executed, message
    except Exception as exc:  # noqa: BLE001 - an unhandled kind is counted, not fatal
        executed = bool(trial.marker and trial.marker.exists())
        return False, executed, f"{type(exc).__name__}: {exc}"[:300]
    return False, bool(trial.marker and trial.marker.exists()), "accepted (no error)"


def plant_control(tmp: Path) -> bool:
    """The planted pickle is live: torch.load(weights_only=False) executes it."""
    import torch

    marker = tmp / "CONTROL"
    torch.load(plant_pickle(tmp / "control.pt", marker), weights_only=False)
    return marker.exists()


def run() -> dict:
    start = time.perf_counter()
    tried, handled, failures = Counter(), Counter(), []
    executed = 0
    with tempfile.TemporaryDirectory(prefix="cw-reliability-state-") as tmp_root:
        for i, case in enumerate(cases()):
            tmp = Path(tmp_root) / f"case{i}"
            tmp.mkdir()
            ok, ran, message = attempt(case, tmp)
            tried[case.family] += 1
            handled[case.family] += ok
            executed += ran and case.family == "pickle"
            if not ok:
                failures.append(f"{case.family}: {case.name}: {message}")
        control = plant_control(Path(tmp_root))
    return {
        "annotation_file_kinds_tried": tried["annotation"],
        "annotation_file_kinds_handled": handled["annotation"],
        "pairs_file_kinds_tried": tried["pairs"], "pairs_file_kinds_handled": handled["pairs"],
        "bad_checkpoint_kinds_tried": tried["checkpoint"],
        "bad_checkpoint_kinds_handled": handled["checkpoint"],
        "planted_pickle_cases": tried["pickle"],
        "planted_pickle_cases_handled": handled["pickle"],
        "planted_pickle_cases_executed": executed,
        "planted_pickle_control_executes_when_unpickled": control,
        "unhandled": failures, "seconds": round(time.perf_counter() - start, 2),
    }


def main() -> None:
    from cleverward.benchmarks.report import emit_json

    emit_json(run())


if __name__ == "__main__":
    main()
