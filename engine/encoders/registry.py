"""Name -> builder registries for video and text encoders.

An encoder is named by a spec string: either a registered name with no argument
(``conse-mobilenetv2``, ``minilm-l6``) or ``kind:location`` where location is a local folder or a
hub id (``clip:/models/clip-vit-b32``, ``t5:google/t5-v1_1-small``, ``lm:Qwen/Qwen3-0.6B``).
Options follow after ``?`` as ``key=value`` pairs joined by ``&``
(``lm:/models/qwen?pooling=mean``); an option the builder does not take is an error that lists
the ones it does. Builders import their heavy dependencies lazily.

This module holds the tables and the decorators the encoder modules register with; it imports
none of them. engine/encoders/catalog.py loads the built-in ones and builds from a spec, so the
encoders and the registry do not depend on each other.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from cleverward.engine.encoders.base import TextEncoder, VideoEncoder

VideoBuilder = Callable[..., VideoEncoder]
TextBuilder = Callable[..., TextEncoder]

_VIDEO: dict[str, VideoBuilder] = {}
_TEXT: dict[str, TextBuilder] = {}


@dataclass(frozen=True)
class EncoderSpec:
    kind: str
    location: str | None
    options: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> EncoderSpec:
        if not spec or not spec.strip():
            raise ValueError("encoder spec is empty")
        head, _, query = spec.partition("?")
        kind, sep, location = head.partition(":")
        options: dict[str, str] = {}
        for item in filter(None, query.split("&")):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"encoder spec {spec!r}: option {item!r} is not key=value")
            options[key] = value
        return cls(kind=kind, location=location if sep else None, options=options)

    def __str__(self) -> str:
        text = self.kind if self.location is None else f"{self.kind}:{self.location}"
        if self.options:
            text += "?" + "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return text


def register_video_encoder(kind: str) -> Callable[[VideoBuilder], VideoBuilder]:
    def wrap(builder: VideoBuilder) -> VideoBuilder:
        _VIDEO[kind] = builder
        return builder

    return wrap


def register_text_encoder(kind: str) -> Callable[[TextBuilder], TextBuilder]:
    def wrap(builder: TextBuilder) -> TextBuilder:
        _TEXT[kind] = builder
        return builder

    return wrap


def build_from(table: dict, spec_text: str, what: str):
    """Build the encoder `spec_text` names from `table` (one of the two registries below)."""
    spec = EncoderSpec.parse(spec_text)
    if spec.kind not in table:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {what} encoder {spec.kind!r} in {spec_text!r}; known: {known}")
    builder = table[spec.kind]
    accepted = [n for n in inspect.signature(builder).parameters if n != "location"]
    unknown = sorted(set(spec.options) - set(accepted))
    if unknown:
        raise ValueError(f"{what} encoder {spec_text!r}: unknown option(s) {unknown}; "
                         f"{spec.kind} accepts {accepted or 'no options'}")
    return builder(spec.location, **spec.options)


def video_builders() -> dict[str, VideoBuilder]:
    return _VIDEO


def text_builders() -> dict[str, TextBuilder]:
    return _TEXT
