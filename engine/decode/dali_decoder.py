"""DALI decoding: NVDEC on a GPU (DALI's "mixed" backend), libavcodec on CPU (VP8, VP9, MJPEG).

Same frames as the PyAV decoder. The frame count comes from the same demux index PyAV uses
(`pyav_decoder.probe`: packets only, no decoding), the indices from `uniform_indices`, and they
are handed to `fn.decoders.video(frames=...)`, which decodes exactly those frames (repeats
allowed, so a clip shorter than N repeats frames as PyAV does). `pad_mode="none"` makes an index
past DALI's own frame count an error instead of a silent black frame.

Same geometry as PyAV. The scaled size (`resize.scaled_size`: cover the target, aspect kept) and
the centre-crop offset are computed on the host and fed per clip, so `fn.resize` gets an exact
size and `fn.slice` an absolute window: the crop is the same pixels as `resize.center_crop`.
Interpolation differs: DALI converts YUV to RGB at full size and then resizes linearly with
antialiasing (a triangle filter widened by the scale factor when shrinking); PyAV's swscale
converts and scales in one pass with SWS_BILINEAR (also widened when shrinking), on subsampled
chroma. With the colour conversion this leaves DALI a level or two brighter on average (measured
in tests/engine/test_dali_decoder.py), never a different frame or a shifted crop.

Pipelines are built once per device and serve every file and every DecodeConfig: the file bytes,
frame indices, sizes and crop window all arrive through `fn.external_source`, so nothing in the
graph depends on the clip or the config. Thread safety: a DALI pipeline is not re-entrant, so
each `decode` checks a pipeline out of a small pool for its own exclusive use and returns it
afterwards; threads never share a pipeline and never wait on each other (DALI releases the GIL
while it runs, so two decode threads run in parallel). The pool grows to the number of threads
decoding at once. A pipeline that raised is dropped, since DALI marks it invalid.

Nothing here imports DALI at import time (it takes about a second): `get_decoder()` only checks
that the package exists, and DALI is imported when the first pipeline is built.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.resize import scaled_size
from cleverward.engine.decode.sampling import uniform_indices

# FFmpeg canonical codec names (`Codec.canonical_name`) each DALI backend decodes.
CPU_CODECS = frozenset({"vp8", "vp9", "mjpeg"})
GPU_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mjpeg", "mpeg4"})
_CODEC_LABELS = {"h264": "H.264", "hevc": "HEVC", "av1": "AV1", "mpeg4": "MPEG-4"}


@dataclass(frozen=True)
class StreamInfo:
    codec: str  # FFmpeg canonical name: "vp9", "h264", ...
    height: int
    width: int
    num_frames: int  # as the PyAV decoder counts them


@cache
def _import_dali():
    """-> (fn, types, Pipeline), or the ImportError text (a broken install, not a missing one)."""
    try:
        from nvidia.dali import fn, types
        from nvidia.dali.pipeline import Pipeline
    except (ImportError, OSError) as exc:  # a broken install or a missing shared library
        return f"nvidia.dali does not import: {exc}"
    return fn, types, Pipeline


def dali_installed() -> bool:
    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:  # no `nvidia` namespace package at all
        return False


@lru_cache(maxsize=4096)
def _codec_of(path: str, mtime_ns: int, size: int) -> str | None:
    """Codec of the first video stream from the container header (no demuxing); cached per file
    version (mtime and size are part of the key). None if PyAV cannot open it."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return None
            return container.streams.video[0].codec_context.codec.canonical_name
    except (av.FFmpegError, ValueError, OSError):
        return None


def codec_of(path: str) -> str | None:
    st = os.stat(path)
    return _codec_of(path, st.st_mtime_ns, st.st_size)


def stream_info(path: str) -> StreamInfo:
    """Codec, coded size and frame count (demux only), counted exactly as the PyAV decoder does."""
    import av

    from cleverward.engine.decode.pyav_decoder import probe

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream in file")
            ctx = container.streams.video[0].codec_context
            index = probe(container)
            if index is not None:
                num_frames = len(index.pts)
            else:  # no timestamps: PyAV decodes everything; the packet count is our best guess
                container.seek(0)
                num_frames = sum(1 for p in container.demux(video=0) if p.size)
            return StreamInfo(ctx.codec.canonical_name, ctx.height, ctx.width, num_frames)
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:  # as PyAVDecoder.decode
        raise DecodeError(path, f"not a readable video ({type(exc).__name__}: {exc})") from exc


def _dali_reason(exc: Exception) -> str:
    """DALI's errors carry the pipeline-definition traceback; keep the line that says what broke."""
    text = str(exc)
    if "encountered:" in text:
        text = text.split("encountered:", 1)[1]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _build_pipeline(device: str, num_threads: int):
    """One pipeline: (bytes, frame indices, scaled size, crop window) -> uint8 (N, h, w, 3)."""
    dali = _import_dali()
    if isinstance(dali, str):
        raise RuntimeError(dali)
    fn, types, Pipeline = dali
    # Synchronous execution: one call decodes one clip and returns it; a prefetch queue would
    # need inputs for future iterations that the caller does not have yet.
    pipe = Pipeline(
        batch_size=1, num_threads=num_threads, device_id=0 if device == "mixed" else None,
        exec_async=False, exec_pipelined=False, prefetch_queue_depth=1,
    )
    with pipe:
        encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)  # (bytes,)
        frames = fn.external_source(name="frames", dtype=types.INT32, ndim=1)  # (N,)
        size = fn.external_source(name="size", dtype=types.FLOAT, ndim=1)  # (2,) scaled h, w
        anchor = fn.external_source(name="anchor", dtype=types.INT32, ndim=1)  # (2,) top, left
        shape = fn.external_source(name="shape", dtype=types.INT32, ndim=1)  # (2,) out h, w
        video = fn.decoders.video(encoded, device=device, frames=frames, pad_mode="none")
        # (N, H0, W0, 3) -> (N, sh, sw, 3): size is (h, w), the order of the H and W axes.
        video = fn.resize(video, size=size, interp_type=types.INTERP_LINEAR, antialias=True)
        # (N, sh, sw, 3) -> (N, out_h, out_w, 3): absolute pixel window, not normalised.
        video = fn.slice(
            video, anchor, shape, axis_names="HW", normalized_anchor=False, normalized_shape=False
        )
        pipe.set_outputs(video)
    pipe.build()
    return pipe


class PipelineBuildError(RuntimeError):
    """DALI could not build a pipeline on this device (no CUDA driver, broken install)."""


class _PipelinePool:
    """Idle pipelines per device; a checked-out pipeline belongs to one thread until returned."""

    def __init__(self, num_threads: int) -> None:
        self.num_threads = num_threads
        self._idle: dict[str, list] = {}
        self._lock = threading.Lock()  # guards the idle lists only, never held while decoding

    @contextmanager
    def checkout(self, device: str) -> Iterator[object]:
        with self._lock:
            idle = self._idle.setdefault(device, [])
            pipe = idle.pop() if idle else None
        if pipe is None:
            try:
                pipe = _build_pipeline(device, self.num_threads)
            except RuntimeError as exc:
                raise PipelineBuildError(_dali_reason(exc)) from exc
        yield pipe  # if the body raises, the pipeline is dropped: DALI has invalidated it
        with self._lock:
            self._idle[device].append(pipe)

    def idle_count(self, device: str) -> int:
        with self._lock:
            return len(self._idle.get(device, []))


class DALIDecoder:
    """DALI's video decoder behind the same interface as PyAVDecoder.

    device: "mixed" (NVDEC on GPU 0), "cpu", or None to pick "mixed" where CUDA is visible.
    num_threads: DALI worker threads per pipeline (one pipeline per concurrent decode).
    """

    name = "dali"

    def __init__(self, device: str | None = None, num_threads: int = 2) -> None:
        if device not in (None, "cpu", "mixed"):
            raise ValueError(f"device: must be 'cpu', 'mixed' or None, got {device!r}")
        self._device = device
        self._pool = _PipelinePool(num_threads)

    @property
    def device(self) -> str:
        if self._device is None:
            from cleverward.engine.environment import cuda_available

            self._device = "mixed" if cuda_available() else "cpu"
        return self._device

    @property
    def codecs(self) -> frozenset[str]:
        return GPU_CODECS if self.device == "mixed" else CPU_CODECS

    def can_decode(self, path: str) -> bool:
        """True if this backend decodes the file's codec and DALI imports (header probe, cached)."""
        if not Path(path).is_file() or codec_of(path) not in self.codecs:
            return False
        return not isinstance(_import_dali(), str)

    def decode(self, path: str, cfg: DecodeConfig) -> np.ndarray:
        """-> uint8 (N, H, W, 3), the frames PyAVDecoder samples. Raises DecodeError."""
        if Path(path).stat().st_size == 0:
            raise DecodeError(path, "file is empty")
        info = stream_info(path)
        self._check_codec(path, info.codec)
        if info.num_frames < 1:
            raise DecodeError(path, "no frames could be decoded")
        dali = _import_dali()
        if isinstance(dali, str):
            raise DecodeError(path, f"--decoder dali: {dali}; use --decoder pyav or auto")
        inputs = self._inputs(path, info, cfg)
        try:
            with self._pool.checkout(self.device) as pipe:
                (out,) = pipe.run(**inputs)
                if self.device == "mixed":
                    out = out.as_cpu()
                return np.array(out[0])  # (N, H, W, 3); a copy, DALI reuses its buffer
        except PipelineBuildError as exc:
            raise DecodeError(path, f"DALI {self.device} pipeline failed to build ({exc})") from exc
        except RuntimeError as exc:
            reason = _dali_reason(exc)
            raise DecodeError(path, f"corrupt or undecodable stream (DALI: {reason})") from exc

    def _check_codec(self, path: str, codec: str) -> None:
        if codec in self.codecs:
            return
        label = _CODEC_LABELS.get(codec, codec)
        if self.device == "cpu" and codec in GPU_CODECS:
            raise DecodeError(
                path, f"{label} needs DALI's GPU decoder (no CUDA device here); "
                      "use --decoder pyav or auto"
            )
        raise DecodeError(path, f"DALI cannot decode {label}; use --decoder pyav or auto")

    @staticmethod
    def _inputs(path: str, info: StreamInfo, cfg: DecodeConfig) -> dict[str, list[np.ndarray]]:
        """External-source feeds for one clip (batch of one, hence the one-element lists)."""
        sh, sw = scaled_size(info.height, info.width, cfg.height, cfg.width)
        top, left = (sh - cfg.height) // 2, (sw - cfg.width) // 2  # as resize.center_crop
        return {
            "encoded": [np.fromfile(path, dtype=np.uint8)],
            "frames": [uniform_indices(info.num_frames, cfg.frames).astype(np.int32)],
            "size": [np.array([sh, sw], np.float32)],
            "anchor": [np.array([top, left], np.int32)],
            "shape": [np.array([cfg.height, cfg.width], np.int32)],
        }


_DECODER: DALIDecoder | None = None
_DECODER_LOCK = threading.Lock()


def get_decoder() -> DALIDecoder | None:
    """The shared DALI decoder, or None where nvidia-dali is not installed (checked without
    importing it; a broken install shows up as can_decode False / a DecodeError instead)."""
    global _DECODER
    if not dali_installed():
        return None
    with _DECODER_LOCK:
        if _DECODER is None:
            _DECODER = DALIDecoder()
        return _DECODER
