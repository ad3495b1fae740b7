"""Hub ids resolved from the local Hugging Face cache only: never a download.

    folder = cached_snapshot("org/name", "clip:org/name", ["*.json", "*.safetensors"])

Both encoder specs (`clip:org/name`) and cleverward checkpoints (`--model org/name`) name hub
repositories; both are looked up with huggingface_hub's offline cache lookup
(`snapshot_download(local_files_only=True)`: no network request is made, whatever
HF_HUB_OFFLINE says). The error names the cache folder searched and the variables that move it.
"""

from __future__ import annotations

import re
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name, as the hub spells repo ids


def looks_like_hub_id(text: str) -> bool:
    """`org/name` with no path markers (absolute, ./, ~, backslash, more than one slash)."""
    return bool(HUB_ID.match(text)) and not text.startswith((".", "~"))


def hub_cache_dir() -> str:
    """The cache folder huggingface_hub reads now (HF_HUB_CACHE, else HF_HOME/hub)."""
    import huggingface_hub.constants as hub

    return str(hub.HF_HUB_CACHE)


def cached_snapshot(repo_id: str, what: str, allow_patterns: list[str] | None = None) -> Path:
    """The snapshot folder of `repo_id` in the local cache; FileNotFoundError naming `what`
    (the text the user typed), the cache searched and how to fill it, when it is not there."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True,
                                      allow_patterns=allow_patterns))
    except Exception as exc:  # noqa: BLE001 - the hub's errors are many; say what was asked
        raise FileNotFoundError(
            f"{what}: not a local folder, and the hub id {repo_id!r} is not in the local Hugging "
            f"Face cache ({hub_cache_dir()}; set by HF_HUB_CACHE or HF_HOME) "
            f"({type(exc).__name__}). Nothing is downloaded at run time: download it "
            f"beforehand (`hf download {repo_id}`, on a machine with access to the hub) or give "
            f"a local folder"
        ) from exc
