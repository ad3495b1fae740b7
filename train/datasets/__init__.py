"""Dataset adapters: annotation files -> scored items and direct pairs (stdlib only).

    from cleverward.train.datasets import load_dataset, FORMATS
    records = load_dataset("videofeedback:VF/train/data_annotated.json", videos_root="VF/frames")
"""

from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    PairItem,
    ScoredItem,
)
from cleverward.train.datasets.registry import FORMATS, load_dataset, parse_spec

__all__ = [
    "FORMATS",
    "AnnotationError",
    "DatasetRecords",
    "PairItem",
    "ScoredItem",
    "load_dataset",
    "parse_spec",
]
