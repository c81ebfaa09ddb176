"""The single source of network names.

The registry is a table of names -> builders that imports nothing heavy: builders are
``"module:function"`` strings resolved on first use, so the command line can list and
validate names without importing torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from torch import nn

NORMS = ("batch", "instance", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")

Kind = Literal["generator", "discriminator"]


@dataclass(frozen=True)
class NetworkEntry:
    """One registered network.

    Attributes:
        name: the public name (``unet_256``, ``basic`` ...).
        kind: ``generator`` or ``discriminator``.
        target: ``"module:callable"`` that builds the network.
        defaults: keyword arguments fixed by the name (``num_downs=8`` for ``unet_256``).
        size_multiple: generators only: height and width must be multiples of this.
        description: one line for ``--help`` and ``info``.
    """

    name: str
    kind: Kind
    target: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    size_multiple: int = 1
    description: str = ""

    def builder(self) -> Callable[..., nn.Module]:
        module_name, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[Kind, dict[str, NetworkEntry]] = {"generator": {}, "discriminator": {}}


class UnknownNetworkError(ValueError):
    """A network name that is not registered."""


def register(entry: NetworkEntry) -> NetworkEntry:
    """Add ``entry`` to the registry; names are unique per kind."""
    table = _REGISTRY[entry.kind]
    if entry.name in table:
        raise ValueError(f"{entry.kind} {entry.name!r} is already registered")
    table[entry.name] = entry
    return entry


def get_entry(kind: Kind, name: str) -> NetworkEntry:
    """Look up a registered network, failing with the list of valid names."""
    table = _REGISTRY[kind]
    if name not in table:
        valid = ", ".join(sorted(table))
        raise UnknownNetworkError(f"unknown {kind} {name!r}; expected one of: {valid}")
    return table[name]


def list_generators() -> list[str]:
    """Names of all registered generators, sorted."""
    return sorted(_REGISTRY["generator"])


def list_discriminators() -> list[str]:
    """Names of all registered discriminators, sorted."""
    return sorted(_REGISTRY["discriminator"])


def generator_size_multiple(name: str) -> int:
    """Height and width that generator ``name`` needs its input to be a multiple of."""
    return get_entry("generator", name).size_multiple


def _create(kind: Kind, name: str, init_type: str | None, init_gain: float, cfg: dict) -> nn.Module:
    entry = get_entry(kind, name)
    net = entry.builder()(**{**cfg, **entry.defaults})  # the name fixes its defaults
    if init_type is not None:
        from img2img.nn.init import init_weights

        init_weights(net, init_type, init_gain)
    return net


def create_generator(
    name: str, *, init_type: str | None = "normal", init_gain: float = 0.02, **cfg: Any
) -> nn.Module:
    """Build generator ``name`` (e.g. ``unet_256``) with options ``cfg`` and initialise it.

    ``init_type=None`` leaves PyTorch's default initialisation (for loading weights).
    """
    return _create("generator", name, init_type, init_gain, cfg)


def create_discriminator(
    name: str, *, init_type: str | None = "normal", init_gain: float = 0.02, **cfg: Any
) -> nn.Module:
    """Build discriminator ``name`` (e.g. ``basic``) with options ``cfg`` and initialise it."""
    return _create("discriminator", name, init_type, init_gain, cfg)


def _builtin(kind: Kind, name: str, target: str, description: str, size_multiple: int = 1,
             **defaults: Any) -> None:
    register(NetworkEntry(name, kind, target, defaults, size_multiple, description))


_builtin("generator", "unet_128", "img2img.nn.unet:UnetGenerator",
         "U-Net with 7 downsamplings (128x128 inputs)", size_multiple=128, num_downs=7)
_builtin("generator", "unet_256", "img2img.nn.unet:UnetGenerator",
         "U-Net with 8 downsamplings (256x256 inputs)", size_multiple=256, num_downs=8)
_builtin("generator", "resnet_6blocks", "img2img.nn.resnet:ResnetGenerator",
         "ResNet encoder-decoder with 6 residual blocks", size_multiple=4, n_blocks=6)
_builtin("generator", "resnet_9blocks", "img2img.nn.resnet:ResnetGenerator",
         "ResNet encoder-decoder with 9 residual blocks", size_multiple=4, n_blocks=9)
_builtin("discriminator", "basic", "img2img.nn.patchgan:NLayerDiscriminator",
         "70x70 PatchGAN (n_layers 3)", n_layers=3)
_builtin("discriminator", "n_layers", "img2img.nn.patchgan:NLayerDiscriminator",
         "PatchGAN with --n-layers-D layers")
_builtin("discriminator", "pixel", "img2img.nn.patchgan:PixelDiscriminator",
         "1x1 PixelGAN")
