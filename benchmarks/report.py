"""How the standalone benchmark scripts hand back their figures: JSON on stdout, and the same
JSON in the --json file when one is named."""

from __future__ import annotations

import json
from pathlib import Path


def emit_json(results: dict, path: str | Path | None = None, indent: int = 1) -> str:
    text = json.dumps(results, indent=indent)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
    return text
