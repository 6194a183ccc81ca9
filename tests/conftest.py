"""Test-wide settings: never touch the user's caches or the network."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.mktemp("ganprobe-cache")
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    monkeypatch.setenv("GANPROBE_OFFLINE", "1")
    monkeypatch.delenv("GANPROBE_WEIGHTS_DIR", raising=False)
