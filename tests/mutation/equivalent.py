"""Surviving mutants that cannot be killed because they do not change behaviour, with the reason.

Keyed by mutmut's mutant name (module, function, number); `make mutate` prints every survivor
that is not listed here as NOT EXPLAINED. Numbers are per function: re-check this list when a
listed function changes.
"""

from __future__ import annotations

_SHARD = "cleverward.engine.sharding."
_EC = "cleverward.engine.embedding_cache."
_BLOCK = "the digest of a stream does not depend on the block size it is fed in"
_SQL = "SQL keywords and (unquoted) identifiers are case-insensitive in SQLite"
_HEAD = "cleverward.engine.reward_head.xǁRewardHeadǁ"
_ONE_RANGE = ("equivalent for the adapters there are: merging differs only when two files of one "
              "dataset declare different ranges, and the one adapter that declares a range "
              "(VideoFeedback) always declares 1-4; a new adapter with a per-file range needs "
              "a test")
_EPS = "torch.nn.functional.normalize's default eps is 1e-12: dropping the argument changes nothing"
_CPU_ONLY = ("device=None puts tau on the default device, which is where the rewards are on a "
             "machine without a GPU; observable only with CUDA (a gpu-marked test could)")
_MET = "cleverward.train.metrics."
_RR = "cleverward.engine.run_record."
_CODEC_CASE = "Python's codec names are case-insensitive: 'UTF-8' is 'utf-8'"
_LOCALE = ("encoding=None is the locale's encoding, UTF-8 on this machine (C.UTF-8; its only "
           "other locales, C and POSIX, are coerced to UTF-8 by Python, PEP 538), so no test "
           "here can tell; under a Latin-1 locale a non-ASCII prompt would be misread, so the "
           "explicit utf-8 stays")
_TOP_FIRST = ("the initial record is never read: both layouts yield the 'top' item first "
              "(_stream refuses a file without it, record_items yields it before any model), "
              "and that item replaces the initial value")
_NAN = "float() parses 'nan' case-insensitively: float('NAN') is nan"
_NEG = ("numpy 2 treats any negative size in reshape as the one unknown dimension: "
        "reshape(-2) is reshape(-1)")
_SCIPY_RANK = ("scipy.stats.rankdata casts to float and, with its default axis=None, ravels "
               "the input itself; its default method is 'average'")
_ZERO_CANDIDATE = ("when a[0] == 0 the candidates a[ends] already start with 0.0; an extra 0.0 "
                   "in front gives the same k, and argmax returns the first of equal maxima, "
                   "whose epsilon is 0.0 either way")

EQUIVALENT: dict[str, str] = {
    _RR + "x_read_run_record__mutmut_5": _LOCALE,
    _RR + "x_read_run_record__mutmut_7": _CODEC_CASE,
    _RR + "x_save_run_record__mutmut_6": _LOCALE,
    _RR + "x_save_run_record__mutmut_8": _LOCALE + " (utf-8 is write_text's default only in "
    "UTF-8 mode)",
    _RR + "x_save_run_record__mutmut_17": _CODEC_CASE,
    _RR + "x_save_run_record__mutmut_27": "record_items only tests check for truth: None is "
    "falsy, as False",
    **{_RR + f"x_read_run_record_for__mutmut_{n}": _TOP_FIRST for n in (3, 4, 5)},
    _RR + "x_save_run_record__mutmut_11": "json.dumps only tests ensure_ascii for truth: None "
    "is falsy, as False",
    "cleverward.engine.manifest.x_partition_of__mutmut_10": "int.from_bytes's byteorder "
    "defaults to 'big' (Python 3.11+)",
    _SHARD + "x_parse_shard__mutmut_3": "partition vs rpartition differ only with two or more "
    "'/', and then one side holds a '/' and int() rejects it either way",
    _EC + "x__hash_file__mutmut_7": _BLOCK + " (read(None) reads it all at once)",
    _EC + "x__hash_file__mutmut_9": _BLOCK,
    _EC + "x__hash_file__mutmut_10": _BLOCK,
    _EC + "x_text_key__mutmut_4": "Python's codec names are case-insensitive: 'UTF-8' is 'utf-8'",
    _EC + "xǁEmbeddingCacheǁ_memo_key__mutmut_7": _SQL,
    _EC + "xǁEmbeddingCacheǁ_memo_key__mutmut_8": _SQL,
    "cleverward.train.pairs.x__score_pair__mutmut_8": "sb >= sa differs from sb > sa only at "
    "sb == sa, where the gap 0 <= threshold has already made the pair a tie, so the swap is "
    "never reached",
    "cleverward.train.pairs.x__declared_ranges__mutmut_14": _ONE_RANGE,
    "cleverward.train.pairs.x__declared_ranges__mutmut_5": _ONE_RANGE,
    "cleverward.train.pairs.x__display_path__mutmut_9": "rel == '..' means the video is the "
    "videos root's parent folder; a video is a file or a frames folder (images only, no "
    "subfolders), so it cannot contain the root: the comparison never decides anything",
    _HEAD + "project_text__mutmut_9": _EPS,
    _HEAD + "project_video__mutmut_9": _EPS,
    "cleverward.train.losses.x_tie_aware_bt_loss__mutmut_6": _CPU_ONLY,
    "cleverward.train.losses.x_tie_aware_bt_loss__mutmut_9": _CPU_ONLY,
    "cleverward.engine.decode.sampling.x_uniform_indices__mutmut_19": "the clamp never binds: "
    "the largest centre is floor((n - 0.5) * N / n) = floor(N - N / 2n) <= N - 1, so clamping to "
    "N + 1 instead of N - 1 changes nothing (it guards float rounding only)",
    **{_MET + f"x_{f}__mutmut_{n}": _NAN for f, n in (
        ("accuracy_with_ties", 10), ("accuracy_with_ties", 13), ("kendall", 11),
        ("pairwise_accuracy", 12), ("pairwise_accuracy_tie_threshold", 11), ("pearson", 11),
        ("spearman", 11))},
    **{_MET + f"x_{f}__mutmut_{n}": _NEG for f, n in (
        ("as_arrays", 8), ("as_arrays", 16), ("_pair", 8), ("_pair", 16))},
    **{_MET + f"x_rankdata__mutmut_{n}": _SCIPY_RANK for n in (4, 5, 7, 9, 11)},
    _MET + "x_right_counts_by_tie_prefix__mutmut_8": "numpy lower-cases the sort kind: "
    "'STABLE' is 'stable'",
    _MET + "x__calibrated__mutmut_13": _ZERO_CANDIDATE,
    **{_MET + f"x__calibrated__mutmut_{n}": "a[0] < tol and a[0] <= tol differ only at "
       "a[0] == tol, which holds only when every |diff| is 0 (tol = 1e-9 x a[-1] = 0); then "
       "the extra 0.0 candidate is " + _ZERO_CANDIDATE.split("; ", 1)[1] for n in (21,)},
    _MET + "x__calibrated__mutmut_15": "not strictly equivalent: > tol and >= tol differ "
    "only when two sorted |diff| values are exactly 1e-9 x the largest apart (when all are 0, "
    "every candidate is 0 and gives the same k); that is the rounding tolerance's own "
    "boundary, which differences of real scores do not land on; left alive",
    _MET + "x__calibrated__mutmut_9": "a[1:] != a[:1] marks every pair whose |m| differs from "
    "the smallest, so some candidates repeat, but each is still a |m| that occurs and "
    "searchsorted(side='right') ties its whole group: the same (acc, eps) set, the same first "
    "maximum",
    "cleverward.train.conventions.x__videoscore__mutmut_8": "pairwise_accuracy_tie_threshold's "
    "default threshold is 0.5, the value of VIDEOSCORE_THRESHOLD: dropping the argument changes "
    "nothing (the constant names the script's figure)",
    **{f"cleverward.train.conventions.x_videoalign_accuracy_with_ties__mutmut_{n}": _NAN
       for n in (10, 13)},
    "cleverward.train.datasets.genai_bench.x__pair__mutmut_5": "check_keys tests `if strict:`; "
    "None is as falsy as False",
    "cleverward.train.datasets.genai_bench.x__pair__mutmut_69": "a non-string vote becomes "
    "'XXXX' instead of '', neither of which is a vote: the same error follows",
}
