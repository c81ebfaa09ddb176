"""Export a trained generator: ONNX, TorchScript, or ``.safetensors`` weights with metadata.

:func:`export_model` writes one file and checks it: ONNX and TorchScript files are run on
random inputs of two batch sizes and two image sizes and compared with the PyTorch network
they came from; a ``.safetensors`` file is read back and its weights compared.
"""

from __future__ import annotations

from img2img.export.api import FORMATS, ExportResult, export_model, format_for, format_named_by

__all__ = ["FORMATS", "ExportResult", "export_model", "format_for", "format_named_by"]
