"""Rebuild a trained model for inference from a checkpoint, released or published weights.

An img2img checkpoint carries its config, which names the family; the family's description says
which networks inference needs and builds the :class:`InferenceModel` around them. A bare
published ``state_dict`` is recognised from its keys and shapes. A published model's name
(``horse2zebra``) is looked up in the weights registry and downloaded on first use; the file
must then hold the generator the registry lists, and runs with the registry's test settings.
Released ``.safetensors`` weights carry the same config as metadata; an exported ``.onnx``
model runs under onnxruntime.

Nothing is allocated before it is known to fit: the networks are built once, on the meta
device, and their layout compared with the saved weights, so a damaged or crafted checkpoint
(an absurd ``ngf``, weights of another network) is refused with a message instead of
exhausting memory or failing deep inside ``load_state_dict``; the saved tensors then become
the parameters of those same networks. The checksums of the config and of the networks used
are verified (the optimizer states are never read), and weights holding NaN or infinite values
are refused (:mod:`img2img.models.finite`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.checkpoints import (
    FORMAT,
    CheckpointError,
    check_checkpoint,
    check_layouts,
    read_checkpoint_file,
    require_entries,
    resolve_checkpoint,
    verify_checksums,
)
from img2img.config import ConfigError
from img2img.families import get_family, list_families, load_run_config
from img2img.families.published import match_generator
from img2img.hub.download import ProgressFn
from img2img.hub.weights import PublishedWeights, resolve_model
from img2img.models.finite import check_finite
from img2img.models.inference import (
    InferenceModel,
    image_model,
    take_options,
    test_option_flags,
)
from img2img.models.onnx_runtime import OnnxModel, load_onnx_model
from img2img.models.published import drop_legacy_stats, is_bare_state_dict, strip_parallel_prefix
from img2img.models.released import SUFFIX as RELEASE_SUFFIX
from img2img.models.released import read_release
from img2img.nn import create_generator

ONNX_SUFFIX = ".onnx"

#: test-time options published generators take (``translate`` flags without the dashes)
PUBLISHED_OPTIONS = ("test_mode", "dropout", "seed")


def load_inference_model(
    model: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    weights_dir: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    **options: Any,
) -> InferenceModel | OnnxModel:
    """The inference model of a checkpoint, run directory, ``.safetensors``, ``.onnx``,
    published ``.pth`` or published model name.

    Args:
        model: a checkpoint file, a run directory, a release or export, a bare generator
            ``.pth``, or the name of a published model (``horse2zebra``, ``pix2pix/sat2map``;
            see :mod:`img2img.hub.weights`), downloaded on first use.
        device: where the networks go (an ONNX model runs under onnxruntime there).
        weights_dir: the weights folder for published names (default ``$IMG2IMG_WEIGHTS`` or
            ``./weights``).
        progress: ``progress(bytes done, total or None)`` while a published model downloads.
        options: the family's test-time options (``test_mode``, ``dropout``, ``seed``,
            ``direction`` ...); one the family does not take fails naming it. An ONNX model
            takes only the family's input options (its network was fixed at export).
    """
    path, published = resolve_model(model, weights_dir, progress=progress)
    suffix = path.suffix.lower()
    if suffix == ONNX_SUFFIX and path.is_file():
        return load_onnx_model(path, torch.device(device), _reference_model, options)
    if suffix == RELEASE_SUFFIX and path.is_file():
        released = _from_release(path, options)
        released.source = path
        return released.to(device)
    source = resolve_checkpoint(path)
    data = read_checkpoint_file(source, mmap=True)  # optimizer states are never paged in
    if isinstance(data, dict) and data.get("format") == FORMAT:
        loaded = _from_checkpoint(data, source, options)
    elif is_bare_state_dict(data):
        loaded = _from_published(data, source, options, published)
    else:
        raise CheckpointError(
            f"{source}: not an img2img checkpoint nor a generator state_dict "
            "(expected a file written by 'img2img train' or published generator weights)"
        )
    loaded.source = source
    return loaded.to(device)


def _from_checkpoint(data: dict, source: Any, options: dict[str, Any]) -> InferenceModel:
    check_checkpoint(data, source, verify=("family", "config", "step"))
    require_entries(data, source, {"config": dict, "step": int, "nets": dict})
    try:
        config = load_run_config(data["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{source}: its config is not valid: {exc}") from exc
    layouts = _network_layouts(config)
    verify_checksums(data, source, [f"nets/{name}" for name in layouts if name in data["nets"]])
    return _from_config(config, data["nets"], options, data["step"], data.get("extra"), source,
                        layouts=layouts)


def _network_layouts(config: Any) -> dict[str, nn.Module]:
    """The networks inference needs for ``config``, on the meta device (no memory)."""
    description = get_family(config.family).description_class()
    with torch.device("meta"):
        return description.inference_networks(config.model)


def _from_config(
    config: Any, states: Mapping[str, dict], options: dict[str, Any], step: int | None,
    extra: Mapping[str, Any] | None = None, source: Any = None,
    layouts: dict[str, nn.Module] | None = None,
) -> InferenceModel:
    """The family's inference model for ``config`` with the networks' saved ``states`` (and
    the checkpoint's ``extra`` state, such as pix2pixHD's feature centres).

    ``layouts`` are the networks of :func:`_network_layouts` if the caller built them already:
    built once on the meta device, they are compared with ``states`` before anything is
    allocated and then become the model's networks, holding the saved tensors.
    """
    layouts = _network_layouts(config) if layouts is None else layouts
    check_layouts(layouts, states, source)
    check_finite(states, source, names=[name for name in layouts if name in states])
    description = get_family(config.family).description_class()
    nets = _with_weights(layouts, lambda: description.inference_networks(config.model), states)
    state = description.inference_state(extra or {})
    model = description.inference_model(config, nets, **state, **options)
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


def _reference_model(metadata: dict[str, Any], options: dict[str, Any]) -> InferenceModel:
    """The inference model an export was made from, with unmaterialised networks.

    It reads and encodes inputs as the family does; its networks are never run. ``options``
    may only be the family's input options (pix2pixHD's ``--instances``, ``--style`` ...):
    any other test-time option was fixed when the network was exported.
    """
    config = load_run_config(metadata["config"]) if metadata.get("config") else None
    family = config.family if config is not None else metadata["family"]
    description = get_family(family).description_class() if family in list_families() else None
    accepted = description.input_options if description is not None else ()
    given = sorted(k for k, v in options.items() if v is not None and k not in accepted)
    if given:
        raise ValueError(
            f"{test_option_flags(given)}: an exported model's test-time behaviour was fixed "
            "when it was exported; export again with other options instead"
        )
    if config is not None:
        state = description.inference_state(metadata.get("extra") or {})
        return description.inference_model(config, _network_layouts(config), **state, **options)
    own = None if description is None else description.published_inference_model(
        _exported_layout(metadata), metadata["network"], **options)
    if own is not None:  # published weights of a family with its own input encoding
        return own
    return InferenceModel(
        nn.Identity(), family=metadata["family"], network=metadata["network"],
        in_channels=metadata["in_channels"], out_channels=metadata["out_channels"],
        input_kind=metadata.get("input_kind", "image"),
    )


def _exported_layout(metadata: dict[str, Any]) -> nn.Module:
    """The exported generator's network on the meta device, with its input and output channels
    (what a family reads from published weights)."""
    with torch.device("meta"):
        return create_generator(metadata["network"], init_type=None,
                                in_channels=metadata["input"]["shape"][1],
                                out_channels=metadata["out_channels"])


def _from_published(
    state: dict, source: Any, options: dict[str, Any], published: PublishedWeights | None = None
) -> InferenceModel:
    state = strip_parallel_prefix(state)
    try:
        spec, layout = match_generator(state)
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
    state = drop_legacy_stats(state, layout)
    check_finite({"G": state}, source)
    net = _with_weights({"G": layout}, lambda: {"G": spec.build()}, {"G": state},
                        names={"G": "generator"})["G"]
    description = get_family(spec.family).description_class()
    own = description.published_inference_model(net, spec.name, **options)
    if own is not None:  # a family whose generators need their own input encoding
        return own
    o = spec.options
    take_options("published", options, PUBLISHED_OPTIONS)
    family = published.family if published is not None else spec.family
    reference = dict(published.test) if published is not None else {}
    default_mode = reference.get("test_mode") or ("paper" if o["norm"] == "batch" else "eval")
    return image_model(net, family, spec.name, o["in_channels"], o["out_channels"], options,
                       default_mode)


def _with_weights(
    layouts: dict[str, nn.Module], build: Callable[[], dict[str, nn.Module]],
    states: Mapping[str, dict], names: Mapping[str, str] | None = None,
) -> dict[str, nn.Module]:
    """The networks ``layouts`` (built by ``build`` on the meta device), holding the weights
    in ``states`` (by network name).

    Built on the meta device, the networks cost no memory and ran no initialisation that the
    weights would overwrite; the checkpoint's tensors become their parameters and buffers as
    they are: memory-mapped from the file, copied on write, cast only where the checkpoint's
    dtype differs from the network's. A network with state that no checkpoint holds (a buffer
    left out of its ``state_dict``) is built by ``build`` and loaded the ordinary way instead.
    """
    nets = dict(layouts)
    plain = None
    for name, net in nets.items():
        if name not in states:
            raise CheckpointError(f"the weights of network {name!r} are missing")
        what = (names or {}).get(name, f"network {name!r}")
        _load_weights(net, _cast_like(net, states[name]), what, assign=True)
        if any(t.is_meta for t in itertools.chain(net.parameters(), net.buffers())):
            plain = build() if plain is None else plain
            _load_weights(plain[name], states[name], what)
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
