"""Mode "unfrozen": the video and text encoders train together with the reward head.

The encoders must be torch towers (engine/encoders/hf_towers.py: clip:, siglip:, xclip:; text
also st:, t5:, lm:), which expose `tower` (an nn.Module from uint8 frames or token ids to unit
vectors), `tokenize` (text) and `save_tower`. Per batch the clips of its pairs are decoded
(engine decode pool, at the model's decode config) and its prompts tokenised; EncoderObjective
runs both towers, then the shared PairObjective. With `lora_rank` > 0 the towers' attention
projections get LoRA adapters (peft) and only those train; the saved towers have the adapters
merged in.

Decoded clips are kept in memory up to `frame_cache_mb` (least recently used out), so tiny
sets decode once while a corpus streams. Every video is decoded once up front to drop the rows
whose clips cannot be read, as the frozen mode does, so no batch fails midway.

The saved checkpoint is the engine format with the towers inside: out/video_encoder/ and
out/text_encoder/ (save_pretrained, safetensors, tokenizer beside), named in config.json as
"<kind>:./video_encoder", so RewardModel.from_pretrained(out) and score-dir load them.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode_pool import decode_stream
from cleverward.engine.encoders.registry import EncoderSpec
from cleverward.engine.model import RewardModel
from cleverward.train.config import TrainConfig
from cleverward.train.distributed import is_main_process
from cleverward.train.features import PairTensors, index_pair_rows, row_paths
from cleverward.train.objective import PairObjective
from cleverward.train.trainable import head_param_groups, save_head_checkpoint

VIDEO_DIR, TEXT_DIR = "video_encoder", "text_encoder"
# attention projections by family: CLIP / SigLIP / X-CLIP / Qwen-style LMs; BERT (st:); T5
LORA_TARGET_SETS = (("q_proj", "k_proj", "v_proj", "out_proj", "o_proj"),
                    ("query", "key", "value"), ("q", "k", "v", "o"))

NOT_A_TOWER = {
    "conse-mobilenetv2": (
        "its video embedding is ConSE: a posterior-weighted mean over a fixed table of ImageNet "
        "class-text embeddings, through a non-differentiable top-k, on BN-folded MobileNetV2 "
        "inference weights; fine-tuning it would not move the embedding toward the prompts"),
    "minilm-l6": "it runs through sentence-transformers without a tower/tokenize interface",
}


def check_trainable(model: RewardModel, name: str) -> None:
    """Refuse, naming the encoder and what to use instead, unless both encoders are towers."""
    for side, spec, enc in (("video", model.cfg.video_encoder, model.video_encoder),
                            ("text", model.cfg.text_encoder, model.text_encoder)):
        ok = hasattr(enc, "tower") and hasattr(enc, "save_tower")
        if ok and side == "text":
            ok = hasattr(enc, "tokenize")
        if not ok:
            kind = EncoderSpec.parse(spec).kind
            why = NOT_A_TOWER.get(
                kind, "it is not a torch tower (clip:, siglip:, xclip:, st:, t5:, lm:)")
            raise ValueError(
                f"TrainConfig.mode: 'unfrozen' cannot fine-tune the {side} encoder {spec!r} of "
                f"model {name!r}: {why}. Use mode 'frozen' with this model (the head also "
                f"learns from its extra features), or start from a checkpoint whose encoders are "
                f"torch towers, e.g. video and text encoder 'clip:/path/to/clip'.")


def scalar_params_to_buffers(module: nn.Module) -> list[str]:
    """0-dim parameters -> buffers (frozen, still saved): DeepSpeed cannot flatten them
    ("self.dim() cannot be 0 to view Float as Byte"). CLIP's logit_scale is one; the reward
    head has its own temperature. Returns the names moved."""
    moved = []
    for mod_name, mod in module.named_modules():
        for name, p in list(mod._parameters.items()):
            if p is not None and p.dim() == 0:
                del mod._parameters[name]
                mod.register_buffer(name, p.detach().clone())
                moved.append(f"{mod_name}.{name}".lstrip("."))
    return moved


def apply_lora(tower: nn.Module, rank: int, what: str) -> None:
    """tower.model -> a peft model with rank-`rank` adapters on the attention projections;
    everything else in the tower frozen."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ValueError("TrainConfig.lora_rank: LoRA needs the package peft "
                         "(pip install peft); use lora_rank 0 to fine-tune all weights") from exc
    names = {n.rsplit(".", 1)[-1] for n, m in tower.model.named_modules()
             if isinstance(m, nn.Linear)}
    targets = next((sorted(set(t) & names) for t in LORA_TARGET_SETS if set(t) & names), [])
    if not targets:
        known = "; ".join(", ".join(t) for t in LORA_TARGET_SETS)
        raise ValueError(f"TrainConfig.lora_rank: the {what} has no attention projections "
                         f"named as any of ({known}) for LoRA; use lora_rank 0")
    cfg = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=targets)
    tower.model = get_peft_model(tower.model, cfg)


def merged(model: nn.Module) -> nn.Module:
    """A saveable copy of a tower's transformers model: LoRA adapters merged in."""
    if hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
    return model


class FrameStore:
    """Decoded clips by path: decoded on demand through the engine's decode pool, kept up to
    max_bytes (least recently used out)."""

    def __init__(self, cfg: DecodeConfig, workers: int, max_bytes: int) -> None:
        self.cfg, self.workers, self.max_bytes = cfg, workers, max_bytes
        self.clips: OrderedDict[str, np.ndarray] = OrderedDict()
        self.nbytes = 0
        self.decoded = 0

    def _keep(self, path: str, frames: np.ndarray) -> None:
        if frames.nbytes > self.max_bytes:
            return
        while self.nbytes + frames.nbytes > self.max_bytes:
            _, old = self.clips.popitem(last=False)
            self.nbytes -= old.nbytes
        self.clips[path] = frames
        self.nbytes += frames.nbytes

    def probe(self, paths: list[str], progress: Callable[[int], None] | None = None) -> dict:
        """Decode each path once (keeping what fits); -> {path: error} of those that fail."""
        errors = {}
        for n, d in enumerate(decode_stream([(p, p) for p in paths], self.cfg, self.workers)):
            self.decoded += 1
            if d.frames is None:
                errors[d.path] = d.error or "decode failed"
            else:
                self._keep(d.path, d.frames)
            if progress:
                progress(n + 1)
        return errors

    def get(self, paths: list[str]) -> list[np.ndarray]:
        """uint8 (T, H, W, 3) per path, in order."""
        missing = [p for p in dict.fromkeys(paths) if p not in self.clips]
        fresh = {}
        for d in decode_stream([(p, p) for p in missing], self.cfg, self.workers):
            self.decoded += 1
            if d.frames is None:  # it decoded in probe(): the file changed under the run
                raise RuntimeError(f"{d.path}: cannot be decoded any more ({d.error})")
            fresh[d.path] = d.frames
            self._keep(d.path, d.frames)
        out = []
        for p in paths:
            if p in self.clips:
                self.clips.move_to_end(p)
                out.append(self.clips[p])
            else:
                out.append(fresh[p])
        return out


class EncoderObjective(nn.Module):
    """Both towers, then the pair objective: one module for DeepSpeed to wrap."""

    def __init__(self, video: nn.Module, text: nn.Module, objective: PairObjective) -> None:
        super().__init__()
        self.video, self.text, self.objective = video, text, objective

    def forward(self, frames, input_ids, attention_mask, chosen, rejected, prompt, dim, tie,
                margin, targets):
        """frames uint8 (U, T, H, W, 3): the batch's distinct clips; input_ids, attention_mask
        (P, S): its distinct prompts; chosen, rejected (B,) into U; prompt (B,) into P."""
        v = self.video(frames)  # (U, Dv)
        t = self.text(input_ids, attention_mask)  # (P, Dt)
        return self.objective(v[chosen], v[rejected], t[prompt], dim, tie, margin, targets)


class UnfrozenEncoders:
    def __init__(self, model: RewardModel, cfg: TrainConfig, decode_cfg: DecodeConfig) -> None:
        check_trainable(model, cfg.init_model)
        self.video_enc, self.text_enc = model.video_encoder, model.text_encoder
        for side, enc, want in (("video", self.video_enc, model.head.cfg.video_dim),
                                ("text", self.text_enc, model.head.cfg.text_dim)):
            if int(enc.dim) != int(want):
                raise ValueError(f"model {cfg.init_model!r}: the {side} encoder gives "
                                 f"{enc.dim}-d vectors, the head expects {want}")
        video, text = self.video_enc.tower, self.text_enc.tower
        for tower, what in ((video, "video encoder"), (text, "text encoder")):
            scalar_params_to_buffers(tower)
            if cfg.lora_rank:
                apply_lora(tower, cfg.lora_rank, what)
        self.head = copy.deepcopy(model.head).train()
        self.objective = PairObjective(self.head, cfg.objective, cfg.margin_weight, cfg.tie_tau)
        self.module = EncoderObjective(video, text, self.objective).train()
        self.frames = FrameStore(decode_cfg, cfg.workers, cfg.frame_cache_mb << 20)

    def tables(self, rows: list[dict], videos_root: str | None, pairs_dir: str | None,
               progress: Callable[[int], None] | None = None) -> PairTensors:
        """Index the rows over the readable videos (each decoded once here) and the prompts."""
        paths = row_paths(rows, videos_root, pairs_dir)
        unique = sorted({p for pair in paths for p in pair})
        errors = self.frames.probe(unique, progress)
        ok = [p for p in unique if p not in errors]
        n_prompts = len({str(r["prompt"]) for r in rows})
        data = index_pair_rows(rows, paths, ok, errors, np.zeros((len(ok), 0), np.float32),
                               np.zeros((n_prompts, 0), np.float32))
        data.decoded = self.frames.decoded
        return data

    def inputs(self, data: PairTensors, idx: torch.Tensor) -> tuple:
        n = len(idx)
        vids, inv = torch.unique(torch.cat([data.chosen[idx], data.rejected[idx]]),
                                 return_inverse=True)
        clips = self.frames.get([data.videos[i] for i in vids.tolist()])
        frames = torch.from_numpy(np.stack(clips))  # (U, T, H, W, 3) uint8
        pids, pinv = torch.unique(data.prompt[idx], return_inverse=True)
        ids, mask = self.text_enc.tokenize([data.prompts[i] for i in pids.tolist()])  # (P, S)
        return (frames, ids, mask, inv[:n], inv[n:], pinv, data.dim[idx], data.tie[idx],
                data.margin[idx], data.targets[idx])

    def param_groups(self, cfg: TrainConfig) -> list[dict]:
        towers = [p for m in (self.module.video, self.module.text) for p in m.parameters()
                  if p.requires_grad]
        return head_param_groups(self.head, cfg) + [
            {"params": towers, "weight_decay": cfg.weight_decay, "lr": cfg.encoder_lr}]

    def snapshot(self) -> dict:
        # save() writes the current weights at once, so the best state is a marker (also in a
        # resumed run's client state), not a second copy of the encoders in memory
        return {"on_disk": True}

    def save(self, model, best, cfg, provenance, final) -> None:
        if not is_main_process():
            return
        out = Path(cfg.out)
        if final and best:  # the best weights are on disk: only the provenance moves on
            _rewrite_provenance(out, provenance)
            return
        for enc, tower, sub in ((self.video_enc, self.module.video, VIDEO_DIR),
                                (self.text_enc, self.module.text, TEXT_DIR)):
            _write_tower(enc, tower, out / sub)
        specs = {side: _inside_spec(spec, sub) for side, spec, sub in (
            ("video_encoder", model.cfg.video_encoder, VIDEO_DIR),
            ("text_encoder", model.cfg.text_encoder, TEXT_DIR))}
        save_head_checkpoint(model, self.head.state_dict(), cfg, provenance, **specs)


def _write_tower(enc, tower: nn.Module, folder: Path) -> None:
    """The tower (LoRA merged) into folder, via a temp folder + rename."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    was = tower.model
    tower.model = merged(was)
    try:
        enc.save_tower(tower, tmp)
    finally:
        tower.model = was
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _inside_spec(spec: str, sub: str) -> str:
    parsed = EncoderSpec.parse(spec)
    return str(EncoderSpec(parsed.kind, f"./{sub}", parsed.options))


def _rewrite_provenance(out: Path, provenance: dict) -> None:
    path = out / "config.json"
    data = json.loads(path.read_text())
    data["provenance"] = provenance
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
