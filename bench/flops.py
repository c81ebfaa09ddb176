"""FLOP counting for the benchmarks: torch's counter, taught the oneDNN matrix product.

The small-grid layers of a training step at batch 1 compute some of their products with
oneDNN's linear operator (``torch.ops.mkldnn._linear_pointwise``), which torch's counter does
not know; without its formula those FLOPs would be left out of every MFU.
"""

from __future__ import annotations

import math

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

__all__ = ["FlopCounterMode"]

_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None)

if _LINEAR is not None:

    @register_flop_formula(_LINEAR)
    def _linear_flops(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
        """``input [..., K] @ weight[N, K]^T``: two FLOPs per multiply-add."""
        rows = math.prod(input_shape[:-1])
        return 2 * rows * input_shape[-1] * weight_shape[0]
