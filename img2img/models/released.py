"""Released generator weights: ``.safetensors`` with the model's description as JSON metadata.

The file holds the tensors of every network inference needs, named ``<network>.<parameter>``
(``G.model.model.0.weight``), and string metadata: ``format``, ``format_version``, ``family``,
``networks`` (a JSON list), ``config`` (the run's configuration as JSON; absent for published
weights), ``step`` and the img2img version. Nothing in it is code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from img2img import __version__
from img2img.atomic import atomic_write

FORMAT = "img2img-generator"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"


def release_tensors(networks: dict[str, nn.Module]) -> dict[str, Tensor]:
    """The weights of ``networks`` as one flat dict ``{"<net>.<key>": tensor}``."""
    return {
        f"{name}.{key}": value.detach().cpu().contiguous()
        for name, net in networks.items()
        for key, value in net.state_dict().items()
    }


def save_release(
    path: str | os.PathLike,
    networks: dict[str, nn.Module],
    *,
    family: str,
    config: dict[str, Any] | None,
    step: int | None,
) -> Path:
    """Write ``networks`` and their description to a ``.safetensors`` file atomically."""
    from safetensors.torch import save

    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "family": family,
        "networks": json.dumps(sorted(networks)),
        "step": "" if step is None else str(step),
        "img2img_version": __version__,
    }
    if config is not None:
        metadata["config"] = json.dumps(config)
    data = save(release_tensors(networks), metadata=metadata)
    path = Path(path)
    atomic_write(path, lambda f: f.write(data))
    return path


def read_release(path: str | os.PathLike) -> tuple[dict[str, dict[str, Tensor]], dict[str, Any]]:
    """The state dict of each network in a release file, and its metadata (JSON decoded).

    Raises:
        ValueError: not a safetensors file, or not one written by img2img.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            raw = dict(f.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from exc
    if raw.get("format") != FORMAT:
        raise ValueError(
            f"{path}: a safetensors file without img2img metadata; expected one written by "
            "'img2img export --format safetensors'"
        )
    if int(raw.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{path}: format version {raw['format_version']} is newer than this img2img "
            f"supports ({FORMAT_VERSION}); upgrade img2img"
        )
    nets: dict[str, dict[str, Tensor]] = {name: {} for name in json.loads(raw["networks"])}
    for key, value in tensors.items():
        name, _, param = key.partition(".")
        if name not in nets:
            raise ValueError(f"{path}: tensor {key!r} belongs to no listed network")
        nets[name][param] = value
    metadata: dict[str, Any] = {
        "family": raw["family"],
        "config": json.loads(raw["config"]) if raw.get("config") else None,
        "step": int(raw["step"]) if raw.get("step") else None,
    }
    return nets, metadata
