"""What a score-dir run scores: (video, prompt) pairs from a folder + prompts file or from a
manifest, where each video is read, and the key its shard is picked by.

Planning reads names only, never a video's bytes: `--shard K/N` keeps the videos whose key (the
path relative to the folder, or the manifest's id / video) hashes to K (engine/sharding.py).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.decode import VIDEO_SUFFIXES
from cleverward.engine.decode.frames_dir import is_frames_dir
from cleverward.engine.manifest import ManifestError, is_url, read_manifest
from cleverward.engine.prompts import PromptEntry, parse_prompts
from cleverward.engine.sharding import shard_of


@dataclass
class Listing:
    videos: list[str]  # sorted paths relative to the folder
    skipped_files: int = 0  # files without a video suffix
    skipped_dirs: int = 0  # dot-folders, not walked
    hidden: list[str] = field(default_factory=list)  # the first few of them
    warnings: list[str] = field(default_factory=list)


def list_folder(folder: str | Path) -> Listing:
    """Videos under `folder` (files with a video suffix, folders of frame images). Dot-folders
    (.git, .cache) are counted and not walked. A name that is not UTF-8 cannot be written into a
    row: it is skipped with a warning that shows its bytes. Symlinks are listed as they are; the
    decoders and the cache refuse those that do not lead to a regular file (source.py); a
    symlink to a folder is listed, not walked: a frames folder through it is read, any other
    folder is an error row (frames_dir.py)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    out = Listing([])
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda exc: out.warnings.append(
            f"{exc.filename}: cannot list it ({exc.strerror}); skipped")):
        here = Path(dirpath)
        if here != root and is_frames_dir(here):
            _add(out, here.relative_to(root).as_posix())
            dirnames.clear()  # its images are frames of one video
            continue
        hidden = [d for d in dirnames if d.startswith(".")]
        out.skipped_dirs += len(hidden)
        out.hidden += [(here / d).relative_to(root).as_posix() for d in hidden][:5]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        # a symlink to a folder is not walked (no loops, no leaving the tree) but never silently
        # dropped: it is a video, read through the link if it holds frames, else an error row
        for d in [d for d in dirnames if (here / d).is_symlink()]:
            dirnames.remove(d)
            _add(out, (here / d).relative_to(root).as_posix())
        for name in filenames:
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                _add(out, (here / name).relative_to(root).as_posix())
            else:
                out.skipped_files += 1
    out.videos.sort()
    return out


def _add(listing: Listing, rel: str) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # os.walk gave undecodable bytes as surrogates
        shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
        listing.warnings.append(f"{shown}: file name is not valid UTF-8; skipped (rename it)")
        listing.skipped_files += 1
        return
    listing.videos.append(rel)


def list_videos(folder: str | Path) -> tuple[list[str], int]:
    """(videos, files passed over): see list_folder."""
    listing = list_folder(folder)
    return listing.videos, listing.skipped_files


def plan_pairs(entries: list[PromptEntry], videos: list[str]) -> dict[str, list[str]]:
    """video -> its prompts (deduplicated, in file order)."""
    plan: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        for video in [entry.video] if entry.video else videos:
            if entry.prompt not in plan[video]:
                plan[video].append(entry.prompt)
    return dict(plan)


@dataclass
class Corpus:
    """The plan of one run: a row's video -> its prompts (deduplicated, in input order), where
    each video is read, and each video's shard key."""

    plan: dict[str, list[str]]
    listing: Listing
    locate: Callable[[str], Path]
    key: Callable[[str], str]
    missing: dict[str, str] = field(default_factory=dict)  # video -> "prompts.jsonl:N: ..."
    generators: dict[str, str] = field(default_factory=dict)  # video -> the manifest's generator

    def shard(self, k: int, n: int) -> None:
        """Keep only the videos of shard k of n (by key: no file is opened)."""
        if n > 1:
            self.plan = {v: ps for v, ps in self.plan.items() if shard_of(self.key(v), n) == k}


def folder_corpus(videos_dir: str | Path, prompts_file: str | Path) -> Corpus:
    """VIDEOS_DIR + --prompts: a row's video is its path relative to the folder, also its key."""
    root = Path(videos_dir)
    # every prompts error before any decoding; a line naming a missing video is an error row
    entries = parse_prompts(prompts_file, root, missing_ok=True)
    missing = {e.video: e.missing for e in reversed(entries) if e.missing}  # first line wins
    generators = {e.video: e.generator for e in reversed(entries) if e.generator}
    listing = list_folder(root)
    return Corpus(plan_pairs(entries, listing.videos), listing, root.__truediv__, str, missing,
                  generators)


def manifest_corpus(manifest: str | Path) -> Corpus:
    """--manifest FILE: a row's video is the manifest's `video` as written; it is read at that
    path (relative to the manifest's folder); its key is `id` when given. Streams the manifest
    once; every problem names the file and line. URLs are for `cleverward bulk`."""
    plan: dict[str, list[str]] = defaultdict(list)
    where: dict[str, Path] = {}
    keys: dict[str, str] = {}
    generators: dict[str, str] = {}
    for row in read_manifest(manifest):
        if is_url(row.video):
            raise ManifestError(f"{manifest}:{row.line}: {row.source!r} is a URL; score-dir "
                                "reads local files (`cleverward bulk` reads URLs)")
        known = keys.setdefault(row.source, row.key)
        if known != row.key:
            raise ManifestError(f"{manifest}:{row.line}: video {row.source!r} has id "
                                f"{row.key!r} here and {known!r} on an earlier line")
        where[row.source] = Path(row.video)
        if row.generator:  # a video listed with two generators keeps the first (as bulk)
            generators.setdefault(row.source, row.generator)
        if row.prompt not in plan[row.source]:
            plan[row.source].append(row.prompt)
    listing = Listing(sorted(plan))
    return Corpus(dict(plan), listing, where.__getitem__, keys.__getitem__,
                  generators=generators)
