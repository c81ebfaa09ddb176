"""``bench/gpu.py`` on a machine without CUDA: says so, measures and writes nothing, exits 0."""

from __future__ import annotations

import pytest
import torch

from tests.bench_modules import bench_module


@pytest.fixture
def gpu_bench(monkeypatch):
    yield from bench_module(monkeypatch, "gpu.py", "bench_gpu", ("run", "pix2pixhd"))


@pytest.mark.parametrize("argv", [["--quick"], []])
def test_without_cuda_it_says_so_and_exits_0(gpu_bench, monkeypatch, capsys, argv):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(gpu_bench, "run_cuda_tier", lambda: pytest.fail("the tier ran"))
    before = gpu_bench.RESULTS.read_bytes()
    assert gpu_bench.main(argv) == 0
    assert "no CUDA device" in capsys.readouterr().out
    assert gpu_bench.RESULTS.read_bytes() == before


def test_the_table_shows_rate_peak_memory_and_the_bf16_ratio(gpu_bench):
    m = gpu_bench.Measured
    lines = gpu_bench.table({"pix2pix 256x256 (batch 16)": {"fp32": m(100.0, 3.5),
                                                            "bf16": m(260.0, 2.25)}})
    assert lines[2:4] == ["| pix2pix 256x256 (batch 16) | fp32 | 100.0 | 3.50 |",
                          "| pix2pix 256x256 (batch 16) | bf16 | 260.0 | 2.25 |"]
    assert lines[-1] == "\npix2pix 256x256 (batch 16): bf16 / fp32 = **2.60x**"
