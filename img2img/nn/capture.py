"""Whether a tracer, compiler or exporter is recording the computation right now."""

from __future__ import annotations

import sys

import torch


def graph_capture() -> bool:
    """True while TorchScript traces, ``torch.compile`` or ``torch.export`` traces, or an
    ONNX export runs: sizes may then be symbolic and Python-side shortcuts must not be taken."""
    onnx = sys.modules.get("torch.onnx")  # never imported: no export runs (importing costs)
    return (
        torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
        or (onnx is not None and onnx.is_in_onnx_export())
    )
