"""`cleverward train`: a pairs file -> a reward-model checkpoint (DeepSpeed, Bradley-Terry).

`--mode unfrozen` fine-tunes the encoders too (torch towers: clip:, siglip:, xclip:), with
`--lora-rank R` as rank-R LoRA adapters; `--video-encoder` and `--text-encoder` start from
those encoders (a zero-shot head, train/init_model.py) instead of `--model`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import Mode, Objective
from cleverward.cli.common import (
    DEVICE_HELP,
    Progress,
    announce_op_build,
    check_file,
    choice_option,
    config_error,
    fail,
    progress_bar,
)

TRAIN_OPTIONS = {"init_model": "--model", "cache_dir": "--cache", "use_cache": "--no-cache",
                 "resume": "--no-resume", "state_dir": "--state-dir", "device": "--device"}


def train_command(
    pairs: Annotated[Path, typer.Option("--pairs", help="pairs.jsonl / .parquet (build-pairs).")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write.")],
    videos_root: Annotated[Path | None, typer.Option(
        "--videos-root", help="Folder the pairs' video paths are relative to.")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="Checkpoint to start from (its encoders are kept).")] = "default",
    objective: Annotated[Objective, choice_option(
        Objective, "--objective", help="Bradley-Terry, with ties, or sft (the paper's "
        "regression baseline).")] = "bt",
    mode: Annotated[Mode, choice_option(
        Mode, "--mode", help="frozen: train the head; unfrozen: the encoders too.")] = "frozen",
    lora_rank: Annotated[int, typer.Option(
        "--lora-rank", help="unfrozen: LoRA adapter rank (0: fine-tune all weights).")] = 0,
    encoder_lr: Annotated[float, typer.Option(
        "--encoder-lr", help="unfrozen: learning rate of the encoders.")] = 1e-5,
    video_encoder: Annotated[str | None, typer.Option(
        "--video-encoder", help="Start from this encoder spec (with --text-encoder), e.g. "
        "clip:/models/clip, instead of --model.")] = None,
    text_encoder: Annotated[str | None, typer.Option("--text-encoder")] = None,
    epochs: Annotated[int, typer.Option("--epochs")] = 40,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs per step.")] = 256,
    lr: Annotated[float, typer.Option("--lr")] = 3e-3,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = 1e-4,
    margin_weight: Annotated[float, typer.Option(
        "--margin-weight", help="Reward gap asked per unit of a pair's score margin.")] = 0.0,
    val_fraction: Annotated[float, typer.Option(
        "--val-fraction", help="Share of prompts held out for early stopping.")] = 0.1,
    patience: Annotated[int, typer.Option("--patience")] = 6,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    zero_stage: Annotated[int, typer.Option(
        "--zero-stage", min=0, max=3, help="DeepSpeed ZeRO stage.")] = 0,
    deepspeed_config: Annotated[Path | None, typer.Option(
        "--deepspeed-config", help="A DeepSpeed JSON used instead of the generated one.")] = None,
    frames: Annotated[int | None, typer.Option("--frames")] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache folder.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    no_resume: Annotated[bool, typer.Option(
        "--no-resume", help="Start over even if OUT holds an interrupted run.")] = False,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Training state (DeepSpeed's, to resume); default: OUT.state "
        "beside OUT, so OUT holds only the shareable checkpoint.")] = None,
    summary_json: Annotated[Path | None, typer.Option(
        "--summary-json", help="Write the result as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the result as JSON instead of text.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars; print only the checkpoint path.")] = False,
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
) -> None:
    """Train the reward head on chosen/rejected pairs; the best checkpoint by validation loss
    is written to OUT (loadable by score-dir --model OUT)."""
    from cleverward.train.config import TrainConfig

    if (video_encoder is None) != (text_encoder is None):
        fail("--video-encoder and --text-encoder go together")
    try:
        cfg = TrainConfig(
            pairs=str(pairs), out=str(out), videos_root=str(videos_root) if videos_root else None,
            init_model=model, objective=objective, mode=mode, lora_rank=lora_rank,
            encoder_lr=encoder_lr, epochs=epochs, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, margin_weight=margin_weight, val_fraction=val_fraction,
            patience=patience, seed=seed, zero_stage=zero_stage,
            deepspeed_config=str(deepspeed_config) if deepspeed_config else None, frames=frames,
            cache_dir=str(cache) if cache else None, use_cache=not no_cache,
            resume=not no_resume, quiet=quiet, state_dir=str(state_dir) if state_dir else None,
            device=device)
        from cleverward.engine.device import resolve_device

        resolve_device(device)  # a GPU this machine lacks fails before any work
    except ValueError as exc:
        fail(config_error(exc, TRAIN_OPTIONS, TrainConfig))
    check_file(pairs, "--pairs", "pairs file")
    if deepspeed_config is not None:
        check_file(deepspeed_config, "--deepspeed-config", "DeepSpeed JSON file")
    if video_encoder:
        cfg = _init_from_encoders(cfg, video_encoder, text_encoder)
    result = _run(cfg)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:  # the result: stdout
        typer.echo(format_result(result) if not quiet else result.out)
    if summary_json:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(result.to_json(), indent=2) + "\n")


def _init_from_encoders(cfg, video_encoder: str, text_encoder: str):
    """A zero-shot starting checkpoint from the two specs, kept with the training state."""
    from dataclasses import replace

    from cleverward.train.init_model import init_checkpoint

    folder = cfg.state_folder / "init"
    try:
        init_checkpoint(video_encoder, text_encoder, str(folder))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    return replace(cfg, init_model=str(folder))


def _run(cfg):
    import os

    import torch

    from cleverward.train.trainer import train

    def announce() -> None:
        if not torch.cuda.is_available() and os.environ.get("LOCAL_RANK", "0") == "0":
            # DeepSpeed's CPU accelerator builds its shm comm op on the first initialize
            announce_op_build("deepspeed_shm_comm", "shm comm", "about 2 min on 2 cores")

    with progress_bar(None, "embedding", cfg.quiet) as embedded, \
            _TrainProgress(cfg.epochs, cfg.quiet) as progress, deepspeed_logs_to_stderr():
        try:
            return train(cfg, progress=progress, embed_progress=embedded,
                         before_engine=announce)
        except (FileNotFoundError, ValueError) as exc:
            fail(config_error(exc, TRAIN_OPTIONS, type(cfg)))


def format_result(r) -> str:
    def fig(m: dict) -> str:
        return f"loss {m.get('loss', float('nan')):.4f}, acc {m.get('acc', float('nan')):.4f}"

    where = "validation" if r.val_pairs else "training (no validation split)"
    lines = [f"trained {r.epochs} epochs ({r.steps} steps) on {r.train_pairs} pairs, "
             f"validated on {r.val_pairs}; best epoch {r.best_epoch}, {r.seconds:.1f}s",
             f"{where} before: {fig(r.before)}", f"{where} best:   {fig(r.best)}"]
    if r.val_pairs and r.best_epoch < 0:
        lines.append("no epoch beat the starting model on validation: the starting head was "
                     "saved (try a lower --lr, more pairs, or another --objective)")
    if r.resumed_from is not None:
        lines.insert(1, f"resumed after epoch {r.resumed_from}")
    lines += [f"dropped {n} pairs: {why}" for why, n in r.dropped.items()]
    lines.append(f"-> {r.out}")
    return "\n".join(lines)


@contextmanager
def deepspeed_logs_to_stderr():
    """DeepSpeed logs through its logger's handler on stdout and print()s build notes: both go
    to stderr, so stdout holds the result only."""
    import logging

    # On a machine without a GPU DeepSpeed warns, at import, that it "set the accelerator to
    # CPU": nothing to act on (the run's device is the --device option's), so it is dropped;
    # every other DeepSpeed record is kept.
    logging.getLogger("DeepSpeed").addFilter(_CpuAcceleratorNote())
    with redirect_stdout(sys.stderr):  # its import logs (the accelerator it picked)
        try:
            import deepspeed.utils  # noqa: F401  (creates the "DeepSpeed" logger)
        except ImportError:
            pass
    handlers = [h for h in logging.getLogger("DeepSpeed").handlers
                if type(h) is logging.StreamHandler  # not a FileHandler a user added
                and getattr(h, "stream", None) not in (sys.stderr, sys.__stderr__)]
    for handler in handlers:
        _swap(handler, sys.stderr)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:  # left on the process's stderr: never closed (a test runner's stream would be)
        for handler in handlers:
            _swap(handler, sys.__stderr__)


class _CpuAcceleratorNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Setting accelerator to CPU" not in record.getMessage()


def _swap(handler, stream) -> None:
    """handler.setStream without its flush of the old stream (which may be closed already: a
    test runner's, in-process)."""
    with handler.lock:
        handler.stream = stream


class _TrainProgress:
    """Epochs as a progress bar, with the running loss and pairwise accuracy as its note."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        self.bar = Progress("training", "epoch", epochs, quiet)
        self.started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def __call__(self, event: dict) -> None:
        if event["event"] == "step":
            if not self.started:  # DeepSpeed's start-up and the embedding are not epochs
                self.started = True
                self.bar.restart()
            self.bar.set_note(f"loss {event['loss']:.3f}, acc {event['acc']:.3f}")
        elif event["event"] == "epoch":
            if "val_acc" in event:
                self.bar.set_note(f"val_loss {event['val_loss']:.3f}, "
                                  f"val_acc {event['val_acc']:.3f}")
            self.bar(1)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
