"""The sidecar `manifest.json` of an export folder: what was exported, from what, and how.

    {"format": "cleverward-export/1", "source": {...}, "exporter": {...},
     "components": {"head": {"file": "head.onnx", "sha256": "...", "opset": 20,
                             "inputs": [{"name": "video", "dtype": "float32",
                                         "shape": ["batch", 1668]}, ...],
                             "outputs": [...], "parity": {...}, "extra": {...}}, ...}}

Every file an export writes is listed with its sha256; `ExportManifest.verify` re-hashes them, so
a truncated or edited file is caught on read rather than turning into wrong scores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = "cleverward-export/1"
MANIFEST = "manifest.json"


class ExportError(RuntimeError):
    """An export could not be written, or a written one does not match its manifest."""


def portable_path(path: str | Path) -> str:
    """Where a source file came from, without this machine's environment in it: a file inside
    an installed package as `<site-packages>/<package path>`, any other path as given (a
    model folder the user named)."""
    import site
    import sys

    resolved = Path(path).resolve()
    roots = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    for root in sorted({Path(r).resolve() for r in roots if r and "site-packages" in r},
                       key=lambda r: -len(str(r))):
        if resolved.is_relative_to(root):
            return f"<site-packages>/{resolved.relative_to(root).as_posix()}"
    return str(path)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output; a str dimension is dynamic (its symbolic name)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name: must not be empty")

    @classmethod
    def from_dict(cls, data: dict) -> TensorSpec:
        return cls(data["name"], data["dtype"], tuple(data["shape"]))


@dataclass(frozen=True)
class Component:
    """One exported graph. `files` maps every file it needs (the .onnx first, then any external
    data or tokenizer) to its sha256."""

    name: str
    file: str
    opset: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    files: dict[str, str]
    parity: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.file not in self.files:
            raise ValueError(f"files: must hash the graph file {self.file!r}")
        if self.opset < 7:
            raise ValueError(f"opset: must be >= 7, got {self.opset}")

    @property
    def sha256(self) -> str:
        return self.files[self.file]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["sha256"] = self.sha256
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Component:
        return cls(
            name=data["name"], file=data["file"], opset=int(data["opset"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
            files=dict(data["files"]), parity=dict(data.get("parity", {})),
            extra=dict(data.get("extra", {})),
        )


@dataclass(frozen=True)
class ExportManifest:
    source: dict  # model name/path, checkpoint key, encoder specs and fingerprints
    exporter: dict  # library versions, exporter kind, opset
    components: dict[str, Component]
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"format: expected {FORMAT!r}, got {self.format!r}")

    def path(self, folder: str | Path, component: str) -> Path:
        if component not in self.components:
            raise KeyError(f"export has no {component!r}; it has {sorted(self.components)}")
        return Path(folder) / self.components[component].file

    def to_dict(self) -> dict:
        return {"format": self.format, "source": self.source, "exporter": self.exporter,
                "components": {k: c.to_dict() for k, c in self.components.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> ExportManifest:
        comps = {k: Component.from_dict(v) for k, v in data["components"].items()}
        return cls(source=data["source"], exporter=data["exporter"], components=comps,
                   format=data.get("format", ""))

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / MANIFEST
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    def verify(self, folder: str | Path) -> None:
        """Raise ExportError unless every listed file exists with its recorded sha256."""
        for comp in self.components.values():
            for name, digest in comp.files.items():
                path = Path(folder) / name
                if not path.is_file():
                    raise ExportError(f"{path}: listed in {MANIFEST} but missing")
                if sha256_file(path) != digest:
                    raise ExportError(f"{path}: sha256 differs from {MANIFEST} (edited or torn)")


def load_manifest(folder: str | Path, verify: bool = True) -> ExportManifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ExportError(f"{folder}: no {MANIFEST} (not an export folder)")
    try:
        manifest = ExportManifest.from_dict(json.loads(path.read_text()))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{path}: not a valid manifest ({exc})") from exc
    if verify:
        manifest.verify(folder)
    return manifest
