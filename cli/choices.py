"""The fixed sets of the CLI's options, as Enums (`--help` lists them, shells complete them, a
typo gets "did you mean"). The values are the engine's and trainer's own tuples, repeated here so
the CLI starts without importing faiss, onnx or ray; tests/cli/test_cli_habits.py
(test_the_cli_choices_are_the_engines_own) keeps them equal."""

from __future__ import annotations

from typing import Annotated

from cleverward.cli.common import choice_option, choices

Decoder = choices("Decoder", ("auto", "pyav", "dali"))  # engine/config.py DECODERS
Backend = choices("Backend", ("auto", "torch", "onnx", "tensorrt"))  # engine/config.py BACKENDS
ScoreFormat = choices("ScoreFormat", ("jsonl", "csv", "parquet"))  # engine/config.py FORMATS
ExportFormat = choices("ExportFormat", ("onnx", "tensorrt"))  # engine/export/api.py FORMATS
IndexKind = choices("IndexKind", ("auto", "flat", "ivf", "hnsw"))  # engine/video_index.py
SearchKind = choices("SearchKind", ("flat", "ivf", "hnsw"))  # an index already built
Executor = choices("Executor", ("ray", "local"))  # engine/bulk/run.py EXECUTORS
Objective = choices("Objective", ("bt", "bt-ties", "sft"))  # train/config.py OBJECTIVES
Mode = choices("Mode", ("frozen", "unfrozen"))  # train/config.py MODES
Ties = choices("Ties", ("half", "drop", "loss"))  # train/compare/winrate.py TIES
GeneratorFrom = choices("GeneratorFrom", ("auto", "field", "folder"))  # compare/rows.py
Codec = choices("Codec", ("h264", "vp9"))  # train/synth.py CODECS


# Options that compare and report share: one declaration, one help text.
TiesOption = Annotated[Ties, choice_option(
    Ties, "--ties", help="A tied prompt in win rates: half a win, dropped, or a loss.")]
GeneratorFromOption = Annotated[GeneratorFrom, choice_option(
    GeneratorFrom, "--generator-from", help="field: the rows' generator; folder: "
    "videos/<generator>/<clip>.")]
