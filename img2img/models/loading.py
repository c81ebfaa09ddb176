"""Rebuild a trained model for inference from a checkpoint or published weights.

An img2img checkpoint carries its config, which names the family; the family's recipe says
which networks inference needs and builds the :class:`InferenceModel` around them. A bare
published ``state_dict`` is recognised from its keys and shapes.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from img2img.engine.checkpoint import (
    FORMAT,
    CheckpointError,
    check_checkpoint,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.families import get_family, load_run_config
from img2img.models.inference import InferenceModel, check_test_mode, take_options
from img2img.models.published import drop_legacy_stats, is_bare_state_dict, recognise_generator

#: test-time options published generators take (``translate`` flags without the dashes)
PUBLISHED_OPTIONS = ("test_mode", "dropout", "seed")


def load_inference_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", **options: Any
) -> InferenceModel:
    """The inference model of a checkpoint, run directory or published ``.pth``.

    ``options`` are the family's test-time options (``test_mode``, ``dropout``, ``seed`` ...);
    one the family does not take fails naming it.
    """
    source = resolve_checkpoint(path)
    data = read_checkpoint_file(source, mmap=True)  # optimizer states are never paged in
    if isinstance(data, dict) and data.get("format") == FORMAT:
        model = _from_checkpoint(check_checkpoint(data, source), options)
    elif is_bare_state_dict(data):
        model = _from_published(data, source, options)
    else:
        raise CheckpointError(
            f"{source}: not an img2img checkpoint nor a generator state_dict "
            "(expected a file written by 'img2img train' or published generator weights)"
        )
    model.source = source
    return model.to(device)


def _from_checkpoint(data: dict, options: dict[str, Any]) -> InferenceModel:
    config = load_run_config(data["config"])
    recipe = get_family(config.family).recipe_class()
    nets = recipe.inference_networks(config.model)
    for name, net in nets.items():
        _load_weights(net, data["nets"][name], f"network {name!r}")
    state = recipe.inference_state(data.get("extra", {}))
    model = recipe.inference_model(config, nets, **state, **options)
    model.step = data["step"]
    return model


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
