"""Batched decoding for a run: DALI's `decode_many` over BATCH clips a call, one batch decoding
ahead of the encoder, frames left on the run's GPU; a clip DALI cannot decode is decoded by
PyAV instead and counted, never an error row (unless PyAV fails too).

    counts = DecodeCounts()
    for d in open_stream(items, cfg, workers=2, device=torch.device("cuda", 0), counts=counts):
        ...                      # d.frames: a uint8 CUDA tensor (NVDEC) or a host array (PyAV)
    counts.pyav_retries          # clips decoded by PyAV after DALI could not take them

`open_stream` is the one place that picks the stream: the batched DALI one for `--decoder
dali`, and for `auto` where DALI is installed and the run is on a GPU; the per-clip thread
pool (engine/decode_pool.py) otherwise. Any object with `decode_many(paths, cfg)` (a list of
frames or DecodeError, in order) and optionally `stats()` (its own PyAV retries under
"pyav_retries") serves as the decoder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode_pool import Decoded, decode_one, decode_stream

BATCH = 16  # clips per decode_many call (DALI: one pipeline run)


@dataclass
class DecodeCounts:
    pyav_retries: int = 0  # clips DALI could not decode, decoded by PyAV instead


def batched_dali_applies(choice: str, device, dali_present: bool) -> bool:
    """--decoder dali always; auto where DALI is installed and the run is on a GPU (on a CPU
    run auto keeps the per-clip choice of engine/decode.select_decoder)."""
    return choice == "dali" or (choice == "auto" and dali_present and device.type == "cuda")


def open_stream(items: Iterable[tuple[str, str]], cfg: DecodeConfig, workers: int, device,
                counts: DecodeCounts, on_wait: Callable[[], None] | None = None,
                decoder=None) -> Iterator[Decoded]:
    """(key, path) items -> Decoded in input order, on the stream this run's decoder and device
    call for. decoder: the batched decoder to use (default: DALI's for `device`)."""
    if decoder is None:
        from cleverward.engine.decode.dali_decoder import get_decoder

        present = get_decoder(device) is not None
        if not batched_dali_applies(cfg.decoder, device, present):
            return decode_stream(items, cfg, workers=workers, on_wait=on_wait)
        decoder = get_decoder(device)
        if decoder is None:  # --decoder dali without DALI: every clip says so
            return decode_stream(items, cfg, workers=workers, on_wait=on_wait)
    return batched_stream(items, cfg, decoder, counts, on_wait=on_wait,
                          auto=cfg.decoder == "auto")


def batched_stream(items: Iterable[tuple[str, str]], cfg: DecodeConfig, decoder,
                   counts: DecodeCounts, on_wait: Callable[[], None] | None = None,
                   auto: bool = False, batch: int = BATCH) -> Iterator[Decoded]:
    """Batches of `batch` clips through decoder.decode_many on one worker thread, the next
    batch decoding while the consumer encodes this one. auto: a clip the decoder does not take
    (decoder.can_decode False: a codec it lacks, a folder of frames) goes to PyAV up front, not
    counted as a retry."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dali") as pool:
        ahead: Future | None = None
        for chunk in _chunks(items, batch):
            submitted = pool.submit(_decode_batch, chunk, cfg, decoder, counts, auto)
            if ahead is not None:
                yield from _take(ahead, on_wait)
            ahead = submitted
        if ahead is not None:
            yield from _take(ahead, on_wait)


def _chunks(items: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _take(future: Future, on_wait: Callable[[], None] | None) -> list[Decoded]:
    if on_wait is not None and not future.done():
        on_wait()
    return future.result()


def _decode_batch(chunk: list[tuple[str, str]], cfg: DecodeConfig, decoder,
                  counts: DecodeCounts, auto: bool) -> list[Decoded]:
    """One decode_many call for the clips the decoder takes; PyAV for the rest and for those
    it failed on. Only a clip PyAV cannot decode either is an error."""
    pyav = replace(cfg, decoder="pyav")
    out: list[Decoded | None] = [None] * len(chunk)
    mine = []  # (position, key, path) for the batched decoder
    for i, (key, path) in enumerate(chunk):
        if Path(path).is_dir() or (auto and not _takes(decoder, path)):
            out[i] = decode_one(key, path, pyav)  # frames folders, codecs it lacks
        else:
            mine.append((i, key, path))
    before = _own_retries(decoder)
    try:
        results = decoder.decode_many([p for _, _, p in mine], cfg) if mine else []
    except Exception as exc:  # noqa: BLE001 - the whole call failed: every clip goes to PyAV
        results = [DecodeError(p, f"{type(exc).__name__}: {exc}") for _, _, p in mine]
    counts.pyav_retries += _own_retries(decoder) - before  # its own fallbacks (pixel formats)
    for (i, key, path), got in zip(mine, results, strict=True):
        if not isinstance(got, DecodeError):
            out[i] = Decoded(key, path, got)
            continue
        retried = decode_one(key, path, pyav)
        if retried.error is None:
            counts.pyav_retries += 1
        elif retried.error not in got.reason:  # the decoder had not tried PyAV itself
            retried.error = f"{got.reason}; PyAV: {retried.error}"
        else:
            retried.error = got.reason
        out[i] = retried
    return [d for d in out if d is not None]


def _takes(decoder, path: str) -> bool:
    can = getattr(decoder, "can_decode", None)
    return True if can is None else bool(can(path))


def _own_retries(decoder) -> int:
    stats = getattr(decoder, "stats", None)
    return int(stats().get("pyav_retries", 0)) if stats is not None else 0
