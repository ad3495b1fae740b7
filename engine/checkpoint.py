"""Checkpoints: a folder holding `config.json` + `model.safetensors`. Never pickle.

config.json records the encoders (registry spec strings; local folders made absolute at save
time, so the folder loads from anywhere and after a move), the head's shape, the decode settings
the model was trained with, free-form provenance (datasets, pair counts, steps, trainer) and
`model_type` "cleverward" (optional on read: older configs lack it). Each save also writes a
model card, README.md (engine/model_card.py). Named models (`default`) are folders shipped
inside the package; `org/name` is a checkpoint in the local Hugging Face cache (never
downloaded). A checkpoint trained with
unfrozen encoders also holds their fine-tuned weights, each tower in a sub-folder written by
save_pretrained (safetensors), named in config.json as e.g. "clip:./video_encoder" (resolved
against the checkpoint folder on load).

Loading trusts nothing in the folder: config.json must be a UTF-8 JSON object whose fields have
the right types (frames a positive integer, the head's widths positive integers), and
model.safetensors must be a real safetensors file (a pickle or torch.save file under that name is
refused unread) whose tensors are finite and have exactly the names and shapes the config's head
has. Every failure is a CheckpointError: one line naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

FORMAT = "cleverward-reward/1"
MODEL_TYPE = "cleverward"
ASSETS = Path(__file__).resolve().parent / "assets"
NAMED_MODELS = {"default": ASSETS / "default"}
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few hundred bytes; more is not one
MAX_FRAMES = 512  # DecodeConfig's limit
HEAD_KEYS = ("video_dim", "text_dim", "embed_dim", "num_scores")
# torch.save writes a zip archive (PK..) or, in the legacy format, a bare pickle (\x80 + protocol)
PICKLE_MAGICS = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message is one line: `<file>: <what is wrong>`."""

    def __init__(self, path: str | os.PathLike, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class CheckpointConfig:
    video_encoder: str
    text_encoder: str
    head: dict
    frames: int = 8
    provenance: dict = field(default_factory=dict)
    format: str = FORMAT
    model_type: str = MODEL_TYPE  # as transformers configs name their model; optional on read

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"format: expected {FORMAT!r}, got {self.format!r}")
        if self.model_type != MODEL_TYPE:
            raise ValueError(f"model_type: expected {MODEL_TYPE!r}, got {self.model_type!r}")
        for key in ("video_encoder", "text_encoder"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key}: must be a non-empty encoder spec, got {value!r}")
        if not isinstance(self.head, dict):
            raise ValueError(f"head: must be an object, got {type(self.head).__name__}")
        for key in ("video_dim", "text_dim"):
            if key not in self.head:
                raise ValueError(f"head: missing {key!r}")
        unknown = sorted(set(self.head) - set(HEAD_KEYS))
        if unknown:
            raise ValueError(f"head: unknown keys {unknown} (known: {', '.join(HEAD_KEYS)})")
        for key, value in self.head.items():
            if not _positive_int(value):
                raise ValueError(f"head.{key}: must be a positive integer, got {value!r}")
        if not _positive_int(self.frames) or self.frames > MAX_FRAMES:
            raise ValueError(f"frames: must be an integer in 1..{MAX_FRAMES}, got {self.frames!r}")
        if not isinstance(self.provenance, dict):
            raise ValueError(f"provenance: must be an object, got {type(self.provenance).__name__}")

    @classmethod
    def from_dict(cls, data: dict, source: str = "config.json") -> CheckpointConfig:
        if not isinstance(data, dict):
            raise CheckpointError(source, f"expected a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise CheckpointError(source, f"unknown keys {sorted(unknown)}")
        missing = [k for k in ("video_encoder", "text_encoder", "head") if k not in data]
        if missing:
            raise CheckpointError(source, f"missing key(s) {', '.join(missing)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(source, str(exc)) from None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A named model, a checkpoint folder, or a hub id (`org/name`) whose snapshot is in the
    local Hugging Face cache (never downloaded) -> the folder; clear error otherwise."""
    from cleverward.engine.hub_cache import cached_snapshot, looks_like_hub_id

    text = str(name_or_path)
    if text in NAMED_MODELS:
        return NAMED_MODELS[text]
    path = Path(text).expanduser()
    if not path.is_dir() and looks_like_hub_id(text):
        path = cached_snapshot(text, f"model {text!r}", ["*.json", "*.safetensors", "*.md"])
    elif not path.is_dir():
        named = ", ".join(NAMED_MODELS)
        raise FileNotFoundError(f"model {text!r}: not a named model ({named}), a folder, an "
                                f"encoder spec (clip:DIR, siglip:DIR, xclip:DIR) nor a hub id "
                                f"(org/name)")
    from cleverward.engine.decode.source import file_problem

    for required in ("config.json", "model.safetensors"):
        problem = file_problem(path / required)  # a FIFO there is named, never opened
        if problem == "no such file":
            raise FileNotFoundError(f"model {text!r}: {path / required} is missing")
        if problem is not None:
            raise CheckpointError(path / required, problem)
    return path


def absolute_spec(spec_text: str, typed: bool = False) -> str:
    """An encoder spec whose local-folder location is made absolute, so a checkpoint naming it
    loads from any working directory and after it is moved. Hub ids and registered names are
    kept; so is a "./" location in a config (a tower saved inside the checkpoint) unless the
    spec was `typed` by a user (then "./" means the working directory, as on a command line)."""
    from cleverward.engine.encoders.registry import EncoderSpec

    spec = EncoderSpec.parse(spec_text)
    if spec.location is None or (spec.location.startswith("./") and not typed):
        return spec_text
    path = Path(spec.location).expanduser()
    if not path.is_dir():
        return spec_text
    return str(EncoderSpec(spec.kind, str(path.resolve()), spec.options))


def resolve_encoder_specs(cfg: CheckpointConfig, folder: Path) -> CheckpointConfig:
    """Encoder locations written as "./sub" (fine-tuned towers saved inside the checkpoint)
    -> absolute paths under the checkpoint folder, so the folder can be moved whole. A "./"
    location that leaves the folder ("./../..") is refused: it would load another's weights."""
    from cleverward.engine.encoders.registry import EncoderSpec

    def fix(text: str) -> str:
        spec = EncoderSpec.parse(text)
        if spec.location is None or not spec.location.startswith("./"):
            return text
        inside = (folder / spec.location).resolve()
        if not inside.is_relative_to(folder.resolve()):
            raise CheckpointError(folder / "config.json",
                                  f"encoder {text!r}: ./ location leaves the checkpoint folder")
        return str(EncoderSpec(spec.kind, str(inside), spec.options))

    return replace(cfg, video_encoder=fix(cfg.video_encoder), text_encoder=fix(cfg.text_encoder))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_config(config_file: Path) -> CheckpointConfig:
    """config.json -> CheckpointConfig, every failure a CheckpointError naming the file."""
    try:
        with open(config_file, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise CheckpointError(config_file, f"cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise CheckpointError(config_file, f"larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise CheckpointError(config_file, f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(config_file, f"not valid JSON (line {exc.lineno}: {exc.msg})") \
            from None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(config_file, f"not valid JSON ({exc})") from None
    return CheckpointConfig.from_dict(data, str(config_file))


def expected_shapes(head: dict) -> dict[str, tuple[int, ...]]:
    """The reward head's tensor names -> shapes for a config's `head`, built on the meta device
    (no memory, no init)."""
    from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

    with torch.device("meta"):
        module = RewardHead(RewardHeadConfig(**head))
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_safetensors_header(path: Path) -> None:
    """Refuse, before any parser sees it, a file that is not safetensors: a pickle or torch.save
    archive named model.safetensors, a truncated file, a header that is not JSON. (A valid
    header's length may begin with the same two bytes as a pickle: the header is tried first.)"""
    from cleverward.engine.decode.source import NotRegularFile, open_regular

    try:
        f = open_regular(path)  # a FIFO named model.safetensors would block an open()
    except NotRegularFile as exc:
        raise CheckpointError(path, str(exc).removeprefix(f"{path}: ")) from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot read it ({exc.strerror or exc})") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(9)
    n = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else 0
    if len(head) == 9 and 2 <= n and 8 + n <= size and head[8:] == b"{":
        return
    if head.startswith(PICKLE_MAGICS):
        raise CheckpointError(path, "is a pickle / torch.save file, not safetensors "
                                    "(refused unread: a pickle can run code)")
    if len(head) < 9 or 8 + n > size:
        raise CheckpointError(path, f"truncated or not a safetensors file ({size} bytes, the "
                                    f"header claims {8 + n})")
    raise CheckpointError(path, "not a safetensors file (no JSON header)")


def read_weights(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """model.safetensors -> tensors, checked against the expected names and shapes and for
    finite values. Every failure is a CheckpointError naming the file (and the tensor)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    check_safetensors_header(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(path, f"not a readable safetensors file ({first})") from None
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(path, f"tensors do not match the head in config.json (missing "
                                    f"{missing}, unexpected {unexpected})")
    for name, want in shapes.items():
        tensor = state[name]
        if tuple(tensor.shape) != want:
            raise CheckpointError(path, f"tensor {name!r} has shape {tuple(tensor.shape)}, the "
                                        f"head in config.json needs {want}")
        if not tensor.is_floating_point():
            raise CheckpointError(path, f"tensor {name!r} has dtype {tensor.dtype}, expected "
                                        f"floating point")
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise CheckpointError(path, f"tensor {name!r} holds {bad} NaN or Inf value(s) of "
                                        f"{tensor.numel()}")
    return state


def check_encoder_widths(cfg: CheckpointConfig, folder: Path, video_dim: int,
                         text_dim: int) -> None:
    """The head's input widths must be the encoders' output widths (checked at load, before any
    video is decoded: a mismatch would otherwise surface as a matmul error mid-run)."""
    for side, have in (("video", video_dim), ("text", text_dim)):
        want = cfg.head[f"{side}_dim"]
        if have != want:
            spec = getattr(cfg, f"{side}_encoder")
            raise CheckpointError(folder / "config.json",
                                  f"head.{side}_dim is {want} but the {side} encoder {spec!r} "
                                  f"outputs {have} values")


def load_checkpoint(name_or_path: str | os.PathLike) -> tuple[CheckpointConfig, dict]:
    """(config, head tensors) of a named model or folder, validated (module docstring)."""
    folder = resolve(name_or_path)
    cfg = read_config(folder / "config.json")
    return cfg, read_weights(folder / "model.safetensors", expected_shapes(cfg.head))


def weights_digest(state: dict) -> str:
    """Short sha256 of a head's tensors (names and fp32 values): identifies the weights."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


IDENTITY_DIGEST = 12  # hex digits of the head digest in a model's identity (RewardModel.identity)


def model_identity_text(place: str, state: dict) -> str:
    """`<resolved location>@<head digest>`: how output rows name a model."""
    return f"{place}@{weights_digest(state)[:IDENTITY_DIGEST]}"


def identity_place(identity: str) -> str | None:
    """The location part of a model identity; None for a name written before identities had
    a digest (such rows are another model's)."""
    place, sep, digest = identity.rpartition("@")
    ok = sep and len(digest) == IDENTITY_DIGEST and all(c in "0123456789abcdef" for c in digest)
    return place if ok else None


def matching_models(names, typed: str) -> list[str]:
    """The model identities among `names` that `typed` (what a user gives `--model`) means:
    the exact name, else those whose location is `typed` resolved (`runs/r1` ->
    `/abs/runs/r1@<digest>`, `default` -> `default@<digest>`, `clip:dir` -> `clip:/abs/dir@...`)."""
    names = list(names)
    if typed in names:
        return [typed]
    wanted = {typed, absolute_spec(typed, typed=True)}
    if ":" not in typed:
        wanted.add(os.path.abspath(os.path.expanduser(typed)))
    return [n for n in names if identity_place(n) in wanted]


def save_checkpoint(folder: str | os.PathLike, cfg: CheckpointConfig, state: dict) -> Path:
    """Write both files via temp names + rename, so a crash never leaves a half checkpoint,
    and the model card (README.md). Local encoder folders are recorded as absolute paths."""
    from safetensors.torch import save_file

    from cleverward.engine.model_card import write_model_card

    folder = Path(folder)
    cfg = replace(cfg, video_encoder=absolute_spec(cfg.video_encoder),
                  text_encoder=absolute_spec(cfg.text_encoder))
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    for name, tensor in tensors.items():  # what load would refuse is never written
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(folder / "model.safetensors",
                                  f"not written: tensor {name!r} holds NaN or Inf values")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
        pass
    save_file(tensors, tmp.name, metadata={"format": FORMAT})
    os.chmod(tmp.name, 0o666 & ~_umask())  # mkstemp makes 0600; others must read it as config
    os.replace(tmp.name, folder / "model.safetensors")
    tmp_cfg = folder / "config.json.tmp"
    tmp_cfg.write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp_cfg, folder / "config.json")
    write_model_card(folder, cfg)
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
