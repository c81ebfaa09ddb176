"""TorchScript export: the network traced once; convolutions keep any batch, height and width."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.atomic import atomic_write

#: name of the JSON description inside the TorchScript archive (``_extra_files``)
EXTRA_FILE = "img2img.json"


def export_torchscript(net: nn.Module, example: Tensor, path: Path,
                       metadata: dict[str, Any]) -> Path:
    """Trace ``net`` on ``example`` and save it with ``metadata`` as an extra file."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still supported
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # static shape checks
        traced = torch.jit.trace(net, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={EXTRA_FILE: json.dumps(metadata)})
    data = buffer.getvalue()
    atomic_write(path, lambda f: f.write(data))
    return path


def torchscript_runner(path: Path):
    """A function running the TorchScript file at ``path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu")

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x)

    return run


def read_torchscript_metadata(path: Path) -> dict[str, Any]:
    """The description saved with a TorchScript export.

    Raises:
        ValueError: not a TorchScript file, or one without img2img's description.
    """
    files = {EXTRA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        except (RuntimeError, OSError) as exc:
            reason = str(exc).split(".")[0]
            raise ValueError(f"{path}: not a readable TorchScript file ({reason})") from exc
    if not files[EXTRA_FILE]:
        raise ValueError(f"{path}: a TorchScript file without img2img's description; expected "
                         "one written by 'img2img export --format torchscript'")
    return json.loads(files[EXTRA_FILE])
