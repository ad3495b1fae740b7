"""`cleverward synth OUTDIR`: the learnable synthetic task (clips, labels, prompts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import Codec
from cleverward.cli.common import choice_option, config_error, deprecated, err, fail

SYNTH_OPTIONS = {"n_prompts": "--count", "size": "--height/--width"}


def synth_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the task into.")],
    count: Annotated[int, typer.Option("--count", help="Distinct prompts.")] = 24,
    prompts: Annotated[int | None, typer.Option(
        "--prompts", hidden=True, help="Deprecated spelling of --count (--prompts is a file "
        "everywhere else).")] = None,
    videos_per_prompt: Annotated[int, typer.Option("--videos-per-prompt")] = 8,
    frames: Annotated[int, typer.Option("--frames", help="Frames per clip.")] = 24,
    height: Annotated[int, typer.Option("--height")] = 96,
    width: Annotated[int, typer.Option("--width")] = 128,
    fps: Annotated[int, typer.Option("--fps")] = 8,
    codec: Annotated[Codec, choice_option(Codec, "--codec", help="Video codec.")] = "h264",
    heldout_fraction: Annotated[float, typer.Option("--heldout-fraction")] = 0.25,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Render procedural clips whose content is known, with scored labels (generic layout) and
    a held-out split of unseen colour x shape combinations."""
    from cleverward.train.synth import SynthConfig, generate_synthetic

    if prompts is not None:
        deprecated("synth --prompts N", "--count N")
        count = prompts
    try:
        summary = generate_synthetic(out_dir, n_prompts=count,
                                     videos_per_prompt=videos_per_prompt, frames=frames,
                                     size=(height, width), fps=fps, seed=seed, codec=codec,
                                     heldout_fraction=heldout_fraction)
    except ValueError as exc:
        fail(config_error(exc, SYNTH_OPTIONS, SynthConfig))
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo(f"{summary.videos} clips for {summary.prompts} prompts "
                   f"({summary.train_videos} train, {summary.heldout_videos} held out), "
                   f"{summary.seconds:.1f}s -> {out_dir}")
        err(f"score it: cleverward score-dir {out_dir / 'videos'} --prompts "
            f"{out_dir / 'prompts.jsonl'}")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_command)
