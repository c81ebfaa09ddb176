"""Rebuild a trained model for inference from a checkpoint or published weights.

An img2img checkpoint carries its config, which names the family; the family's recipe says
which networks inference needs and builds the :class:`InferenceModel` around them. A bare
published ``state_dict`` is recognised from its keys and shapes. A published model's name
(``horse2zebra``) is looked up in the weights registry and downloaded on first use; the file
must then hold the generator the registry lists, and runs with the registry's test settings.
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
from img2img.hub.download import ProgressFn
from img2img.hub.weights import PublishedWeights, resolve_model
from img2img.models.inference import InferenceModel, check_test_mode, take_options
from img2img.models.published import (
    drop_legacy_stats,
    family_of,
    is_bare_state_dict,
    recognise_generator,
    strip_parallel_prefix,
)

#: test-time options published generators take (``translate`` flags without the dashes)
PUBLISHED_OPTIONS = ("test_mode", "dropout", "seed")


def load_inference_model(
    model: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    weights_dir: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    **options: Any,
) -> InferenceModel:
    """The inference model of a checkpoint, run directory, published ``.pth`` or model name.

    Args:
        model: a checkpoint file, a run directory, a bare generator ``.pth``, or the name of
            a published model (``horse2zebra``, ``pix2pix/sat2map``; see
            :mod:`img2img.hub.weights`), downloaded on first use.
        device: where the networks go.
        weights_dir: the weights folder for published names (default ``$IMG2IMG_WEIGHTS`` or
            ``./weights``).
        progress: ``progress(bytes done, total or None)`` while a published model downloads.
        options: the family's test-time options (``test_mode``, ``dropout``, ``seed``,
            ``direction`` ...); one the family does not take fails naming it.
    """
    path, published = resolve_model(model, weights_dir, progress=progress)
    source = resolve_checkpoint(path)
    data = read_checkpoint_file(source, mmap=True)  # optimizer states are never paged in
    if isinstance(data, dict) and data.get("format") == FORMAT:
        loaded = _from_checkpoint(check_checkpoint(data, source), options)
    elif is_bare_state_dict(data):
        loaded = _from_published(data, source, options, published)
    else:
        raise CheckpointError(
            f"{source}: not an img2img checkpoint nor a generator state_dict "
            "(expected a file written by 'img2img train' or published generator weights)"
        )
    loaded.source = source
    return loaded.to(device)


def _from_checkpoint(data: dict, options: dict[str, Any]) -> InferenceModel:
    config = load_run_config(data["config"])
    recipe = get_family(config.family).recipe_class()
    nets = recipe.inference_networks(config.model)
    for name, net in nets.items():
        _load_weights(net, data["nets"][name], f"network {name!r}")
    model = recipe.inference_model(config, nets, **options)
    model.step = data["step"]
    return model


def _from_published(
    state: dict, source: Any, options: dict[str, Any], published: PublishedWeights | None
) -> InferenceModel:
    state = strip_parallel_prefix(state)
    try:
        spec = recognise_generator(state)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    if published is not None and (spec.name, spec.options) != (
        published.network, dict(published.options)
    ):
        raise CheckpointError(
            f"{source}: holds a {spec.describe()} generator, not the {published.network} "
            f"({dict(published.options)}) published as {published.qualified_name}; delete the "
            "file to download it again"
        )
    net = spec.build()
    _load_weights(net, drop_legacy_stats(state, net), "generator")
    o = spec.options
    take_options("published", options, PUBLISHED_OPTIONS)
    family = published.family if published is not None else family_of(spec)
    reference = dict(published.test) if published is not None else {}
    default_mode = reference.get("test_mode") or ("paper" if o["norm"] == "batch" else "eval")
    dropout = options.get("dropout")
    return InferenceModel(
        net,
        family=family,
        network=spec.name,
        in_channels=o["in_channels"],
        out_channels=o["out_channels"],
        test_mode=check_test_mode(options.get("test_mode") or default_mode),
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
