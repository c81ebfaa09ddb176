"""Rebuild a trained model for inference from a checkpoint, released or published weights.

An img2img checkpoint carries its config, which names the family; the family's recipe says
which networks inference needs and builds the :class:`InferenceModel` around them. A bare
published ``state_dict`` is recognised from its keys and shapes. Released ``.safetensors``
weights carry the same config as metadata; an exported ``.onnx`` model runs under onnxruntime.

Nothing is allocated before it is known to fit: the networks are first built on the meta
device and their layout compared with the saved weights, so a damaged or crafted checkpoint
(an absurd ``ngf``, weights of another network) is refused with a message instead of
exhausting memory or failing deep inside ``load_state_dict``. The checksums of the config and
of the networks used are verified (the optimizer states are never read).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from img2img.config import ConfigError
from img2img.engine.checkpoint import (
    FORMAT,
    CheckpointError,
    check_checkpoint,
    read_checkpoint_file,
    require_entries,
    resolve_checkpoint,
    state_mismatch,
    verify_checksums,
)
from img2img.families import get_family, load_run_config
from img2img.models.inference import InferenceModel, check_test_mode, take_options
from img2img.models.onnx_runtime import OnnxModel, load_onnx_model
from img2img.models.published import drop_legacy_stats, is_bare_state_dict, recognise_generator
from img2img.models.released import SUFFIX as RELEASE_SUFFIX
from img2img.models.released import read_release

ONNX_SUFFIX = ".onnx"

#: test-time options published generators take (``translate`` flags without the dashes)
PUBLISHED_OPTIONS = ("test_mode", "dropout", "seed")


def load_inference_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", **options: Any
) -> InferenceModel | OnnxModel:
    """The inference model of a checkpoint, run directory, ``.safetensors``, ``.onnx`` or
    published ``.pth``.

    ``options`` are the family's test-time options (``test_mode``, ``dropout``, ``seed`` ...);
    one the family does not take fails naming it. An ONNX model takes none (its test-time
    behaviour was fixed at export) and runs under onnxruntime on ``device``.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ONNX_SUFFIX and Path(path).is_file():
        return load_onnx_model(Path(path), torch.device(device), _reference_model, options)
    if suffix == RELEASE_SUFFIX and Path(path).is_file():
        model = _from_release(Path(path), options)
        model.source = Path(path)
        return model.to(device)
    source = resolve_checkpoint(path)
    data = read_checkpoint_file(source, mmap=True)  # optimizer states are never paged in
    if isinstance(data, dict) and data.get("format") == FORMAT:
        model = _from_checkpoint(data, source, options)
    elif is_bare_state_dict(data):
        model = _from_published(data, source, options)
    else:
        raise CheckpointError(
            f"{source}: not an img2img checkpoint nor a generator state_dict "
            "(expected a file written by 'img2img train' or published generator weights)"
        )
    model.source = source
    return model.to(device)


def _from_checkpoint(data: dict, source: Any, options: dict[str, Any]) -> InferenceModel:
    check_checkpoint(data, source, verify=("family", "config", "step"))
    require_entries(data, source, {"config": dict, "step": int, "nets": dict})
    try:
        config = load_run_config(data["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{source}: its config is not valid: {exc}") from exc
    names = _network_layouts(config)
    verify_checksums(data, source, [f"nets/{name}" for name in names if name in data["nets"]])
    return _from_config(config, data["nets"], options, data["step"], data.get("extra"), source)


def _network_layouts(config: Any) -> dict[str, nn.Module]:
    """The networks inference needs for ``config``, on the meta device (no memory)."""
    recipe = get_family(config.family).recipe_class()
    with torch.device("meta"):
        return recipe.inference_networks(config.model)


def _from_config(
    config: Any, states: Mapping[str, dict], options: dict[str, Any], step: int | None,
    extra: Mapping[str, Any] | None = None, source: Any = None,
) -> InferenceModel:
    """The family's inference model for ``config`` with the networks' saved ``states`` (and
    the checkpoint's ``extra`` state, such as pix2pixHD's feature centres); the layouts are
    compared on the meta device before any network is allocated."""
    named = f"{source}: " if source is not None else ""
    for name, net in _network_layouts(config).items():
        if name not in states:
            raise CheckpointError(f"{named}the checkpoint holds no network {name!r}")
        problem = state_mismatch(net.state_dict(), states[name])
        if problem is not None:
            raise CheckpointError(
                f"{named}the weights of network {name!r} do not fit the network its config "
                f"describes ({problem})"
            )
    recipe = get_family(config.family).recipe_class()
    nets = recipe.inference_networks(config.model)
    for name, net in nets.items():
        _load_weights(net, states[name], f"network {name!r}")
    state = recipe.inference_state(extra or {})
    model = recipe.inference_model(config, nets, **state, **options)
    model.step = step
    return model


def _from_release(source: Path, options: dict[str, Any]) -> InferenceModel:
    try:
        states, metadata = read_release(source)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    if metadata["config"] is None:  # published weights, released as they were
        return _from_published(states["G"], source, options)
    config = load_run_config(metadata["config"])
    return _from_config(config, states, options, metadata["step"], source=source)


def _reference_model(metadata: dict[str, Any]) -> InferenceModel:
    """The inference model an export was made from, with unmaterialised networks.

    It reads and encodes inputs as the family does; its networks are never run.
    """
    if metadata.get("config"):
        config = load_run_config(metadata["config"])
        recipe = get_family(config.family).recipe_class()
        with torch.device("meta"):
            nets = recipe.inference_networks(config.model)
        return recipe.inference_model(config, nets)
    return InferenceModel(
        nn.Identity(), family=metadata["family"], network=metadata["network"],
        in_channels=metadata["in_channels"], out_channels=metadata["out_channels"],
        input_kind=metadata.get("input_kind", "image"),
    )


def _from_published(state: dict, source: Any, options: dict[str, Any]) -> InferenceModel:
    try:
        spec = recognise_generator(state)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    net = spec.build()
    _load_weights(net, drop_legacy_stats(state, net), "generator")
    if spec.family is not None:  # a family whose generators need their own input encoding
        recipe = get_family(spec.family).recipe_class()
        return recipe.published_inference_model(net, spec.name, **options)
    o = spec.options
    batch_norm = o["norm"] == "batch"  # pix2pix's U-Nets; CycleGAN's use instance norm
    take_options("published", options, PUBLISHED_OPTIONS)
    dropout = options.get("dropout")
    return InferenceModel(
        net,
        family="pix2pix" if batch_norm else "cyclegan",
        network=spec.name,
        in_channels=o["in_channels"],
        out_channels=o["out_channels"],
        test_mode=check_test_mode(options.get("test_mode") or ("paper" if batch_norm else "eval")),
        dropout=True if dropout is None else bool(dropout),
        seed=options.get("seed") or 0,
    )


def _load_weights(net: nn.Module, state: dict, what: str) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"the {what} weights do not fit the network its config describes "
            f"({first[1].strip() if len(first) > 1 else first[0]})"
        ) from exc
