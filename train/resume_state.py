"""Training state that a run reads back only when it can prove the run wrote it.

DeepSpeed's checkpoint (<out>.state/deepspeed/<tag>/, outside the checkpoint folder: module,
optimizer and client state) is torch.save pickles, and DeepSpeed reads them with
torch.load(weights_only=False): a pickle planted there would run whatever it names. Two
independent locks, so neither alone has to hold:

1. A digest manifest. After each save the main rank records the sha256 of every file of the
   tag in <state>/deepspeed/manifest.json (written atomically, after DeepSpeed's closing barrier).
   Before a resume every rank checks it: a missing or unreadable manifest, or a file that is
   missing, changed or not listed, is refused by name before any byte of state is unpickled.
   The run resumes from the manifest's tag (not DeepSpeed's `latest`), so a kill between the
   save and the manifest resumes from the previous, still verified, epoch.
2. A loader that cannot run code. DeepSpeed's checkpoint engine reads through safe_load:
   torch.load(weights_only=True) with an allow-list of the few plain types DeepSpeed writes
   besides tensors. Anything else (a planted __reduce__) is refused by torch's unpickler, so a
   forged manifest still runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = "cleverward-deepspeed-state/1"
MAX_MANIFEST_BYTES = 1 << 20


class ResumeStateError(ValueError):
    """Training state refused at resume; the message names the file and what is wrong."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tag_files(tag_dir: Path) -> dict[str, Path]:
    """Every entry under the tag folder by its path relative to the state folder."""
    return {p.relative_to(tag_dir.parent).as_posix(): p
            for p in sorted(tag_dir.rglob("*")) if not p.is_dir() or p.is_symlink()}


def write_manifest(folder: str | os.PathLike, tag: str) -> Path:
    """Record the digests of folder/tag's files (call on the main rank, after the save)."""
    folder = Path(folder)
    files = {rel: sha256_file(p) for rel, p in _tag_files(folder / tag).items()}
    data = {"format": FORMAT, "tag": tag, "files": files}
    tmp = folder / f".{MANIFEST}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)
    return folder / MANIFEST


def _read_manifest(path: Path) -> dict:
    hint = ("its training state is not loaded (nothing unpickles files the run cannot show it "
            "wrote); use --no-resume or another --out")
    if not path.is_file():
        raise ResumeStateError(f"{path}: missing; {hint}")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResumeStateError(f"{path}: unreadable ({type(exc).__name__}); {hint}") from None
    ok = (isinstance(data, dict) and data.get("format") == FORMAT
          and isinstance(data.get("tag"), str) and isinstance(data.get("files"), dict)
          and all(isinstance(v, str) for v in data["files"].values()))
    if not ok or len(raw) > MAX_MANIFEST_BYTES:
        raise ResumeStateError(f"{path}: not a {FORMAT} manifest; {hint}")
    tag = data["tag"]
    if not tag or tag in (".", "..") or "/" in tag or "\\" in tag:
        raise ResumeStateError(f"{path}: tag {tag!r} is not a folder name; {hint}")
    return data


def verify_state(folder: str | os.PathLike) -> str:
    """Check folder's manifest against the files on disk -> the tag to resume from."""
    folder = Path(folder)
    manifest = _read_manifest(folder / MANIFEST)
    tag, want = manifest["tag"], manifest["files"]
    have = _tag_files(folder / tag)
    for rel, path in have.items():
        if rel not in want:
            raise ResumeStateError(f"{path}: not in {folder / MANIFEST} (the run did not write "
                                   f"it); refusing to resume")
        if path.is_symlink() or not path.is_file():
            raise ResumeStateError(f"{path}: not a regular file; refusing to resume")
        if sha256_file(path) != want[rel]:
            raise ResumeStateError(f"{path}: changed since the run saved it (sha256 differs "
                                   f"from {folder / MANIFEST}); refusing to resume")
    lost = sorted(set(want) - set(have))
    if lost:
        raise ResumeStateError(f"{folder / lost[0]}: listed in {folder / MANIFEST} but missing; "
                               f"refusing to resume")
    return tag


def allowed_globals() -> list:
    """The non-tensor types DeepSpeed puts in its checkpoints (found by reading back the states
    of ZeRO 0, 2 and 3 runs with weights_only=True): the ZeRO stage enum, the loss scalers and
    ZeRO-2's fragment addresses (plain numbers inside). Allowing a class lets the unpickler
    rebuild that class's state, not call anything else."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [ZeroStageEnum, LossScaler, DynamicLossScaler, fragment_address]


def safe_load(path: str, map_location=None):
    """torch.load that cannot run code: weights_only with the allow-list above."""
    import torch

    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = str(exc).splitlines()  # torch's message is many lines; one names the global
        named = [line.strip() for line in lines if "Unsupported" in line or "GLOBAL" in line]
        why = (named or [line.strip() for line in lines if line.strip()] or ["refused"])[0]
        raise ResumeStateError(f"{path}: holds objects a training state never holds, refused "
                               f"unread ({why[:200]})") from None


def guard_loads(engine) -> None:
    """Route the DeepSpeed engine's checkpoint reads through safe_load. Only the reader changes:
    whichever checkpoint engine DeepSpeed chose keeps saving as it does."""
    engine.checkpoint_engine.load = safe_load
