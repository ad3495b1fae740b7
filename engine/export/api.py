"""One entry point for `cleverward export`: a model name or folder -> ONNX graphs (+ engines).

The export folder is also a checkpoint (config.json, model.safetensors, README.md), so
`--model EXPORT_DIR` loads it; with `--backend onnx` its own graphs are used (engine/runtime.py).

    result = export_model("runs/r1", "tensorrt", "build/trt")

TensorRT is checked before anything is loaded or exported, so a machine without it fails at once
with the reason and the alternative (`--format onnx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.export.manifest import MANIFEST, ExportManifest
from cleverward.engine.export.onnx_export import COMPONENTS, export_onnx

FORMATS = ("onnx", "tensorrt")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    manifest: ExportManifest
    engines: dict[str, Path] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST


def check_format(fmt: str) -> None:
    """ValueError for an unknown format; TensorRTUnavailable (with what to use instead) when
    TensorRT cannot run here."""
    if fmt not in FORMATS:
        raise ValueError(f"format: must be one of {FORMATS}, got {fmt!r}")
    if fmt == "tensorrt":
        from cleverward.engine.export.tensorrt_build import (
            TensorRTUnavailable,
            tensorrt_status,
        )

        ok, why = tensorrt_status()
        if not ok:
            raise TensorRTUnavailable(
                f"--format tensorrt cannot run here: {why}. ONNX export works without it: "
                f"cleverward export --format onnx"
            )


def export_model(model_name: str, fmt: str, out_dir: str | Path, components=COMPONENTS,
                 trt_config=None) -> ExportResult:
    check_format(fmt)
    from cleverward.engine.checkpoint import save_checkpoint
    from cleverward.engine.model import RewardModel

    out = Path(out_dir)
    model = RewardModel.from_pretrained(model_name)
    manifest = export_onnx(model, out, components)
    # the folder is a checkpoint too (config.json, model.safetensors, README.md): --model loads it
    save_checkpoint(out, model.cfg, model.head.state_dict())
    engines: dict[str, Path] = {}
    if fmt == "tensorrt":
        from cleverward.engine.export.tensorrt_build import build_engines

        engines = build_engines(out, manifest, out, trt_config)  # the engine cache is `out`
    return ExportResult(out, manifest, engines)
