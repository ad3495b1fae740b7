"""Top-level options every CLI user reaches for first: --version, -h on every command."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from tests.cli.run import run_cli


def test_version_prints_the_installed_distribution_version():
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"cleverward {version('cleverward')}"


@pytest.mark.parametrize("command", [[], ["score-dir"], ["train"], ["eval"], ["index", "build"]])
def test_short_help_works_like_long_help(command):
    short, long = run_cli(*command, "-h"), run_cli(*command, "--help")
    assert short.exit_code == 0 == long.exit_code
    assert short.output == long.output
    assert "Usage:" in short.output
