"""Whether a tracer, compiler or exporter is recording the computation right now."""

from __future__ import annotations

import torch


def graph_capture() -> bool:
    """True while TorchScript traces, ``torch.compile`` or ``torch.export`` traces, or an
    ONNX export runs: sizes may then be symbolic and Python-side shortcuts must not be taken."""
    return (
        torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
        or torch.onnx.is_in_onnx_export()
    )
