"""The CUDA tier: tests that need a CUDA device, skipped where there is none.

Run it with ``pytest -m cuda tests/cuda`` (``bench/gpu.py --quick`` does, before its speed
table). ``IMG2IMG_TIER_DEVICE=cpu`` runs the tests that make sense on the CPU there, to check
the tests themselves on a machine without a GPU.
"""

from __future__ import annotations

import os

import pytest
import torch

# deterministic cuBLAS (exact_cuda) needs this before cuBLAS starts
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

#: the device under test
TIER_DEVICE = torch.device(os.environ.get("IMG2IMG_TIER_DEVICE", "cuda"))
#: why the tier is skipped here, or None
SKIP_REASON = ("no CUDA device" if TIER_DEVICE.type == "cuda" and not torch.cuda.is_available()
               else None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.cuda)
            if SKIP_REASON is not None:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture
def device() -> torch.device:
    return TIER_DEVICE


@pytest.fixture
def exact_cuda():
    """Deterministic kernels and no autotuning for the block (bit-exact repeats on CUDA)."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled())
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[:2]
    torch.use_deterministic_algorithms(saved[2])
