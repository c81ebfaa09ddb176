"""Rebuild a trained model for inference from a checkpoint or published weights.

An img2img checkpoint carries its config, which names the family; the family's recipe says
which networks inference needs and builds the :class:`InferenceModel` around them. A bare
published ``state_dict`` is recognised from its keys and shapes.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

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
    nets = _with_weights(lambda: recipe.inference_networks(config.model),
                         {name: data["nets"][name] for name in data["nets"]})
    model = recipe.inference_model(config, nets, **options)
    model.step = data["step"]
    return model


def _from_published(state: dict, source: Any, options: dict[str, Any]) -> InferenceModel:
    try:
        spec = recognise_generator(state)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    with torch.device("meta"):
        state = drop_legacy_stats(state, spec.build())
    net = _with_weights(lambda: {"G": spec.build()}, {"G": state}, names={"G": "generator"})["G"]
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


def _with_weights(
    build: Callable[[], dict[str, nn.Module]], states: Mapping[str, dict],
    names: Mapping[str, str] | None = None,
) -> dict[str, nn.Module]:
    """The networks ``build`` makes, holding the weights in ``states`` (by network name).

    The networks are built on the meta device (no memory, no initialisation that the weights
    would overwrite) and the checkpoint's tensors become their parameters and buffers as they
    are: memory-mapped from the file, copied on write, cast only where the checkpoint's dtype
    differs from the network's. A network with state that no checkpoint holds (a buffer left
    out of its ``state_dict``) is built and loaded the ordinary way instead.
    """
    with torch.device("meta"):
        nets = build()
    plain = None
    for name, net in nets.items():
        what = (names or {}).get(name, f"network {name!r}")
        _load_weights(net, _cast_like(net, states.get(name, {})), what, assign=True)
        if any(t.is_meta for t in itertools.chain(net.parameters(), net.buffers())):
            plain = build() if plain is None else plain
            _load_weights(plain[name], states.get(name, {}), what)
            nets[name] = plain[name]
    return nets


def _cast_like(net: nn.Module, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with floating tensors cast to the dtype of ``net``'s own entries."""
    own = net.state_dict()
    return {
        k: v.to(own[k].dtype)
        if k in own and v.is_floating_point() and v.dtype != own[k].dtype else v
        for k, v in state.items()
    }


def _load_weights(net: nn.Module, state: Mapping[str, Tensor], what: str,
                  assign: bool = False) -> None:
    try:
        net.load_state_dict(state, assign=assign)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"the {what} weights do not fit the network its config describes "
            f"({first[1].strip() if len(first) > 1 else first[0]})"
        ) from exc
