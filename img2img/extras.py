"""Optional dependencies: how to name the extra that brings one in."""

from __future__ import annotations


def install_hint(extra: str, package: str) -> str:
    """``"onnxruntime is not installed; install it with: pip install 'img2img-gan[onnx]'"``."""
    return f"{package} is not installed; install it with: pip install 'img2img-gan[{extra}]'"
