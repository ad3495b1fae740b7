"""Which core modules `make mutate` mutates, and the fast test subset that judges each.

One entry a module: the file (relative to the repository root), optional function names to
restrict mutation to (the cache-key functions of a larger module), and the pytest arguments
that select the tests for it. Adding a module is one line. The tests named must be fast:
mutmut runs them once per mutant.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    path: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # empty: every function in the file

    def __post_init__(self) -> None:
        if not self.path.endswith(".py"):
            raise ValueError(f"path: expected a .py file, got {self.path!r}")
        if not self.tests:
            raise ValueError(f"tests: {self.path} needs at least one test selection")

    @property
    def slug(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


_DATASETS = "tests/train/test_datasets.py"
_UNIFORM = "tests/engine/test_decode.py::test_uniform_indices"
_CACHE_KEYS = ("text_key", "_hash_file", "content_digest", "file_signature", "folder",
               "video_key", "_memo_key")

TARGETS: tuple[Target, ...] = (
    Target("engine/sharding.py", ("tests/engine/test_sharding.py",)),
    # the key hash that shards and bulk partitions share (the rest of the file reads manifests)
    Target("engine/manifest.py", ("tests/engine/test_sharding.py",), ("partition_of",)),
    Target("engine/decode/sampling.py", (_UNIFORM, _UNIFORM + "_long_clip_spans_the_clip",
                                         _UNIFORM + "_rejects_empty",
                                         "tests/engine/test_sampling.py")),
    Target("engine/reward_head.py", ("tests/engine/test_reward_head.py",
                                     "tests/engine/test_reward_head_config.py")),
    # the racy-memo test depends on 50 ms of wall time and fails on a loaded machine
    Target("engine/embedding_cache.py", ("tests/engine/test_cache_keys.py",
                                         "tests/engine/test_embedding_cache.py", "--deselect",
                                         "tests/engine/test_embedding_cache.py::"
                                         "test_racily_recorded_memo_is_rechecked_once"),
           _CACHE_KEYS),
    Target("train/losses.py", ("tests/train/test_losses.py", "tests/train/test_loss_precision.py")),
    Target("train/scales.py", ("tests/train/test_scales.py", "tests/train/test_losses.py",
                               "tests/train/test_pairs.py")),
    Target("train/targets.py", ("tests/train/test_targets.py", "tests/train/test_pairs.py")),
    Target("train/pairs.py", ("tests/train/test_pairs.py", "tests/train/test_pairs_rules.py")),
    Target("train/metrics.py", ("tests/train/test_metrics.py", "tests/train/test_conventions.py")),
    # the score-parsing functions of the dataset adapters (paths and file reading excluded)
    Target("train/datasets/records.py", (_DATASETS,), ("parse_number",)),
    Target("train/datasets/t2vqa.py", (_DATASETS,), ("_parse_line",)),
    Target("train/datasets/videofeedback.py", (_DATASETS,), ("scores_from_answer", "_scores")),
    Target("train/datasets/generic.py", (_DATASETS,), ("_is_number", "_scored")),
    Target("train/datasets/videogen_rewardbench.py", (_DATASETS,), ("_pairs_of_row",)),
    Target("train/datasets/genai_bench.py", (_DATASETS,), ("_pair",)),
    Target("train/conventions.py", ("tests/train/test_conventions.py",
                                    "tests/train/test_metrics.py")),
    Target("engine/run_record.py", ("tests/engine/test_run_record.py",
                                    "tests/engine/test_run_record_rules.py")),
)

PENDING: tuple[str, ...] = ()
