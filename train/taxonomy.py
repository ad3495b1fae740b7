"""Dimension taxonomy: every dataset's dimension names -> the canonical six plus overall.

Names are compared case-, space-, underscore- and hyphen-insensitively ("Text_to video-Alignment"
== "text-to-video alignment"); a canonical name always maps to itself. The default table
(train/taxonomy.json):

    canonical             names mapped onto it (source)
    overall               overall (VideoGen-RB "Overall"), mos (T2VQA-DB), vote (GenAI-Bench),
                          overall quality, overall score, preference
    visual_aesthetics     visual quality (VideoFeedback), vq (VideoGen-RB), visual aesthetics,
                          aesthetic quality, aesthetics, image quality
    motion_continuity     temporal consistency (VideoFeedback), mq (VideoGen-RB), motion quality,
                          motion smoothness, motion continuity, temporal quality
    dynamism              dynamic degree (VideoFeedback), dynamics, dynamism, motion degree
    character_continuity  character continuity, character consistency, subject consistency,
                          identity consistency
    textual_alignment     text-to-video alignment (VideoFeedback), ta (VideoGen-RB), textual
                          alignment, text alignment, t2v alignment, text-video alignment,
                          prompt alignment
    physical_realism      factual consistency (VideoFeedback), physical realism, physics,
                          physical commonsense, commonsense

A name that fits none is dropped (the pair builder counts drops per dataset and name). Two names
of one record that land on the same canonical dimension (synonyms) are merged by their mean.

Extending it without editing code: pass a JSON file of the same shape (`taxonomy_file`); it is
merged over the default. A user alias re-points a name, "drop" lists names to drop, and
"datasets" maps names for one dataset only (null drops), taking precedence over the aliases:

    {"aliases": {"textual_alignment": ["semantic fidelity"]},
     "drop": ["vote"],
     "datasets": {"t2vqa": {"mos": "visual_aesthetics"}, "mine": {"flicker": null}}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.dimensions import SCORE_NAMES

DEFAULT_TABLE = Path(__file__).with_name("taxonomy.json")
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_name(name: str) -> str:
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


class TaxonomyError(ValueError):
    pass


@dataclass(frozen=True)
class Taxonomy:
    """names: normalised name -> canonical (None = drop); per_dataset: dataset -> the same."""

    names: Mapping[str, str | None]
    per_dataset: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)

    def canonical(self, name: str, dataset: str | None = None) -> str | None:
        key = normalise_name(name)
        local = self.per_dataset.get(dataset or "", {})
        if key in local:
            return local[key]
        return self.names.get(key)

    def map_scores(
        self, scores: Mapping[str, float], dataset: str | None = None
    ) -> tuple[dict[str, float], list[str]]:
        """(canonical -> value, raw names dropped); synonyms in one record are averaged."""
        grouped: dict[str, list[float]] = {}
        dropped = []
        for raw in sorted(scores):
            target = self.canonical(raw, dataset)
            if target is None:
                dropped.append(raw)
            else:
                grouped.setdefault(target, []).append(float(scores[raw]))
        return {k: sum(v) / len(v) for k, v in grouped.items()}, dropped


def _target(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in SCORE_NAMES:
        raise TaxonomyError(f"{where}: {value!r} is not one of {', '.join(SCORE_NAMES)}")
    return value


def _aliases(table: dict, source: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict):
        raise TaxonomyError(f"{source}: 'aliases' must be an object")
    for canonical, names in aliases.items():
        _target(canonical, f"{source}: aliases")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TaxonomyError(f"{source}: aliases.{canonical} must be a list of names")
        for name in names:
            key = normalise_name(name)
            if out.get(key, canonical) != canonical:
                raise TaxonomyError(f"{source}: {name!r} listed under {out[key]} and {canonical}")
            out[key] = canonical
    return out


def _drops(table: dict, source: str) -> dict[str, None]:
    drop = table.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(n, str) for n in drop):
        raise TaxonomyError(f"{source}: 'drop' must be a list of names")
    return {normalise_name(n): None for n in drop}


def _per_dataset(table: dict, source: str) -> dict[str, dict[str, str | None]]:
    datasets = table.get("datasets", {})
    if not isinstance(datasets, dict):
        raise TaxonomyError(f"{source}: 'datasets' must be an object")
    out = {}
    for dataset, mapping in datasets.items():
        if not isinstance(mapping, dict):
            raise TaxonomyError(f"{source}: datasets.{dataset} must be an object")
        out[dataset] = {
            normalise_name(k): _target(v, f"{source}: datasets.{dataset}.{k}")
            for k, v in mapping.items()
        }
    return out


def _read_table(path: Path) -> dict:
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: no such taxonomy file") from None
    except json.JSONDecodeError as e:
        raise TaxonomyError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    if not isinstance(table, dict):
        raise TaxonomyError(f"{path}: expected a JSON object")
    unknown = set(table) - {"aliases", "drop", "datasets"}
    if unknown:
        raise TaxonomyError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    return table


def load_taxonomy(user_file: str | Path | None = None) -> Taxonomy:
    """The default table, with `user_file` (same JSON shape) merged over it."""
    names = {normalise_name(n): n for n in SCORE_NAMES}
    per_dataset: dict[str, dict[str, str | None]] = {}
    for path in (DEFAULT_TABLE, user_file):
        if path is None:
            continue
        table = _read_table(Path(path))
        names.update(_aliases(table, str(path)))
        names.update(_drops(table, str(path)))
        for dataset, mapping in _per_dataset(table, str(path)).items():
            per_dataset.setdefault(dataset, {}).update(mapping)
    return Taxonomy(names=names, per_dataset=per_dataset)
