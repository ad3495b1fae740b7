"""Export: ONNX graphs of a reward model with a verified manifest, and TensorRT engines built
from them.

    from cleverward.engine.export import export_onnx, load_manifest
    manifest = export_onnx(model, "build/onnx")
    manifest = load_manifest("build/onnx")            # re-hashes every file

TensorRT lives in `cleverward.engine.export.tensorrt_build` and imports `tensorrt` only when
called; `tensorrt_status()` says whether it can run here.
"""

from cleverward.engine.export.manifest import (
    Component,
    ExportError,
    ExportManifest,
    TensorSpec,
    load_manifest,
)
from cleverward.engine.export.onnx_export import OPSET, checkpoint_key, export_onnx

__all__ = [
    "OPSET",
    "Component",
    "ExportError",
    "ExportManifest",
    "TensorSpec",
    "checkpoint_key",
    "export_onnx",
    "load_manifest",
]
