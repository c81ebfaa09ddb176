"""Rebuild a trained model for inference from a checkpoint or published weights.

An img2img checkpoint carries its config, which names the family; the family's recipe says
which networks inference needs and builds the :class:`InferenceModel` around them. A bare
published ``state_dict`` is recognised from its keys and shapes.

Nothing is allocated before it is known to fit: the networks are first built on the meta
device and their layout compared with the saved weights, so a damaged or crafted checkpoint
(an absurd ``ngf``, weights of another network) is refused with a message instead of
exhausting memory or failing deep inside ``load_state_dict``. The checksums of the config and
of the networks used are verified (the optimizer states are never read).
"""

from __future__ import annotations

import os
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
    recipe = get_family(config.family).recipe_class()
    with torch.device("meta"):
        layouts = recipe.inference_networks(config.model)
    verify_checksums(data, source, [f"nets/{name}" for name in layouts if name in data["nets"]])
    for name, net in layouts.items():
        if name not in data["nets"]:
            raise CheckpointError(f"{source}: the checkpoint holds no network {name!r}")
        problem = state_mismatch(net.state_dict(), data["nets"][name])
        if problem is not None:
            raise CheckpointError(
                f"{source}: the weights of network {name!r} do not fit the network its config "
                f"describes ({problem})"
            )
    nets = recipe.inference_networks(config.model)
    for name, net in nets.items():
        _load_weights(net, data["nets"][name], f"network {name!r}")
    model = recipe.inference_model(config, nets, **options)
    model.step = data["step"]
    return model


def _from_published(state: dict, source: Any, options: dict[str, Any]) -> InferenceModel:
    try:
        spec = recognise_generator(state)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    net = spec.build()
    _load_weights(net, drop_legacy_stats(state, net), "generator")
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
