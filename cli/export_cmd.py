"""`cleverward export`: write a model's ONNX graphs (+ TensorRT engines) and their manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleverward.cli.choices import ExportFormat
from cleverward.cli.common import choice_option, config_error, err, fail

Out = Annotated[Path, typer.Option("--out", help="Output folder.")]
Model = Annotated[str, typer.Option("--model", help="Named model or checkpoint folder.")]
Format = Annotated[ExportFormat, choice_option(ExportFormat, "--format", help="What to write.")]
Parts = Annotated[str, typer.Option("--components", help="Comma-separated parts to export.")]
Workspace = Annotated[float, typer.Option("--workspace-gib", help="TensorRT builder workspace.")]
Fp32 = Annotated[bool, typer.Option("--fp32", help="TensorRT: do not enable fp16.")]


def export(
    out: Out,
    model: Model = "default",
    fmt: Format = "onnx",
    components: Parts = "head,text_encoder,frame_encoder",
    workspace_gib: Workspace = 4.0,
    fp32: Fp32 = False,
) -> None:
    """Export the reward head and encoders to ONNX (checked against torch), or build engines."""
    from cleverward.engine.export import ExportError
    from cleverward.engine.export.api import check_format, export_model
    from cleverward.engine.export.tensorrt_build import TensorRTConfig, TensorRTUnavailable

    parts = tuple(c.strip() for c in components.split(",") if c.strip())
    try:
        check_format(fmt)  # before loading anything: fail at once
        trt_cfg = TensorRTConfig(fp16=not fp32, workspace_gib=workspace_gib)
        result = export_model(model, fmt, out, parts, trt_cfg)
    except (TensorRTUnavailable, ExportError, FileNotFoundError, ValueError) as exc:
        fail(config_error(exc, {"components": "--components", "format": "--format"}))
    for name, comp in result.manifest.components.items():
        err_max = comp.parity.get("max_abs_err", float("nan"))
        typer.echo(f"{name:<14} {out / comp.file}  opset {comp.opset}  sha256 {comp.sha256[:12]}"
                   f"  parity max|diff| {err_max:.2g}")
    for name, reason in result.manifest.source.get("not_exported", {}).items():
        err(f"{name}: not exported ({reason})")
    for name, path in result.engines.items():
        typer.echo(f"{name:<14} {path}  (TensorRT engine)")
    typer.echo(f"manifest       {result.manifest_path}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
