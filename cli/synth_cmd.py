"""`cleverward synth OUTDIR`: the learnable synthetic task (clips, labels, prompts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.common import err, fail


def synth_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the task into.")],
    prompts: Annotated[int, typer.Option("--prompts", help="Distinct prompts.")] = 24,
    videos_per_prompt: Annotated[int, typer.Option("--videos-per-prompt")] = 8,
    frames: Annotated[int, typer.Option("--frames", help="Frames per clip.")] = 24,
    height: Annotated[int, typer.Option("--height")] = 96,
    width: Annotated[int, typer.Option("--width")] = 128,
    fps: Annotated[int, typer.Option("--fps")] = 8,
    codec: Annotated[str, typer.Option("--codec", help="h264 | vp9")] = "h264",
    heldout_fraction: Annotated[float, typer.Option("--heldout-fraction")] = 0.25,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Render procedural clips whose content is known, with scored labels (generic layout) and
    a held-out split of unseen colour x shape combinations."""
    from cleverward.train.synth import generate_synthetic

    try:
        summary = generate_synthetic(out_dir, n_prompts=prompts,
                                     videos_per_prompt=videos_per_prompt, frames=frames,
                                     size=(height, width), fps=fps, seed=seed, codec=codec,
                                     heldout_fraction=heldout_fraction)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        err(f"{summary.videos} clips for {summary.prompts} prompts ({summary.train_videos} "
            f"train, {summary.heldout_videos} held out), {summary.seconds:.1f}s -> {out_dir}")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_command)
