"""Batch-invariance verdicts remembered on disk: reused by later processes of the same machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from img2img.infer import stochastic
from img2img.infer.stochastic import batch_invariant
from img2img.infer.verdicts import CACHE_ENV, VerdictStore, cache_dir, fingerprint


class _CountingConv(nn.Conv2d):
    """A convolution that records the batch sizes it is called with."""

    def __init__(self) -> None:
        super().__init__(3, 2, 3, padding=1)
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        return super().forward(x)


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache folder and no verdicts in memory, as in a new process."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(stochastic, "_BATCH_EXACT", {})
    monkeypatch.setattr(stochastic, "_STORE", None)
    return tmp_path


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stochastic, "_BATCH_EXACT", {})
    monkeypatch.setattr(stochastic, "_STORE", None)


def _translate(conv: _CountingConv, x: torch.Tensor) -> list[int]:
    conv.batch_sizes.clear()
    with torch.inference_mode(), batch_invariant(nn.Sequential(conv)) as net:
        net(x)
    return conv.batch_sizes


def test_a_later_process_skips_the_probe(fresh_process: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    conv, x = _CountingConv(), torch.randn(4, 3, 6, 5)
    first = _translate(conv, x)
    assert len(first) > 1  # probed: the batch whole, then image by image
    files = list(fresh_process.glob("batch-invariance-*.json"))
    assert len(files) == 1
    assert list(json.loads(files[0].read_text())["verdicts"].values()) == [first[-1] == 4]
    _new_process(monkeypatch)
    assert _translate(conv, x) == [first[-1]] * (1 if first[-1] == 4 else 4)  # no probe
    _new_process(monkeypatch)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # other kernels: probed again
    assert _translate(conv, x) == first


def test_store_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, "none")
    assert cache_dir() is None
    store = VerdictStore(cache_dir(), fingerprint())
    store.put("k", True)
    store.flush()
    assert store.get("k") is True and store.path is None
    monkeypatch.setenv(CACHE_ENV, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "img2img"


def test_damaged_or_foreign_files_are_ignored_and_replaced(tmp_path: Path) -> None:
    store = VerdictStore(tmp_path, "abc")
    for text in ("{not json", json.dumps([1, 2]), json.dumps({"verdicts": {"k": "yes"}})):
        store.path.write_text(text)
        assert VerdictStore(tmp_path, "abc").get("k") is None
    store.put("k", False)
    store.flush()
    assert VerdictStore(tmp_path, "abc").get("k") is False
    other = VerdictStore(tmp_path, "abc")  # another process wrote meanwhile: both kept
    other.put("j", True)
    store.put("m", True)
    other.flush()
    store.flush()
    assert VerdictStore(tmp_path, "abc").verdicts == {"k": False, "j": True, "m": True}


def test_unwritable_folder_only_loses_the_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = VerdictStore(blocker / "cache", "abc")  # a folder that cannot be made
    store.put("k", True)
    store.flush()  # logged, not raised
    assert store.get("k") is True
