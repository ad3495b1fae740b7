"""Inference: decode -> embed -> project -> score, plus checkpoints, the cache and export.

engine never imports cleverward.train or cleverward.cli (see tests/test_layering.py).
"""
