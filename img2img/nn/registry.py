"""The single source of network names.

The registry is a table of names -> builders that imports nothing heavy: builders are
``"module:function"`` strings resolved on first use, so the command line can list and
validate names without importing torch. The shared building blocks (U-Nets, ResNets,
PatchGANs) are registered here; a family registers the networks only it uses, and every
network is tagged with the families that use it (their ``netG`` / ``netD`` choices).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

#: what a network is for: ``generator``, ``discriminator``, ``encoder`` (pix2pixHD's feature
#: encoder) or any kind a family adds
Kind = str


@dataclass(frozen=True)
class NetworkEntry:
    """One registered network.

    Attributes:
        name: the public name (``unet_256``, ``basic`` ...).
        kind: ``generator``, ``discriminator``, ``encoder`` ... (:data:`Kind`).
        target: ``"module:callable"`` that builds the network.
        defaults: keyword arguments fixed by the name (``num_downs=8`` for ``unet_256``).
        description: one line for ``--help`` and ``info``.
    """

    name: str
    kind: Kind
    target: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def builder(self) -> Callable[..., nn.Module]:
        module_name, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[Kind, dict[str, NetworkEntry]] = {}
#: the families that use each network, by kind and name
_FAMILY_TAGS: dict[tuple[Kind, str], set[str]] = {}


class UnknownNetworkError(ValueError):
    """A network name that is not registered."""


def register(entry: NetworkEntry) -> NetworkEntry:
    """Add ``entry`` to the registry; names are unique per kind."""
    table = _REGISTRY.setdefault(entry.kind, {})
    if entry.name in table:
        raise ValueError(f"{entry.kind} {entry.name!r} is already registered")
    table[entry.name] = entry
    return entry


def unregister(kind: Kind, name: str) -> None:
    """Remove a network and its tags (a family that is unregistered again)."""
    _REGISTRY.get(kind, {}).pop(name, None)
    _FAMILY_TAGS.pop((kind, name), None)


def tag(kind: Kind, names: Iterable[str], family: str) -> None:
    """Record that ``family`` uses the registered networks ``names`` of ``kind``."""
    for name in names:
        get_entry(kind, name)
        _FAMILY_TAGS.setdefault((kind, name), set()).add(family)


def untag(family: str) -> None:
    """Forget every network ``family`` was recorded to use."""
    for families in _FAMILY_TAGS.values():
        families.discard(family)


def list_networks(kind: Kind, family: str | None = None) -> list[str]:
    """Names of the registered networks of ``kind`` (those ``family`` uses, if given), sorted."""
    table = _REGISTRY.get(kind, {})
    if family is None:
        return sorted(table)
    return sorted(n for n in table if family in _FAMILY_TAGS.get((kind, n), ()))


def get_entry(kind: Kind, name: str) -> NetworkEntry:
    """Look up a registered network, failing with the list of valid names."""
    table = _REGISTRY.get(kind, {})
    if name not in table:
        valid = ", ".join(sorted(table))
        raise UnknownNetworkError(f"unknown {kind} {name!r}; expected one of: {valid}")
    return table[name]


def list_generators(family: str | None = None) -> list[str]:
    """Names of the registered generators (those ``family`` uses, if given), sorted."""
    return list_networks("generator", family)


def list_discriminators(family: str | None = None) -> list[str]:
    """Names of the registered discriminators (those ``family`` uses, if given), sorted."""
    return list_networks("discriminator", family)


def list_encoders(family: str | None = None) -> list[str]:
    """Names of the registered feature encoders (those ``family`` uses, if given), sorted."""
    return list_networks("encoder", family)


def _alternatives(entry: NetworkEntry, key: str, value: Any) -> str:
    """Names of the same builder that take ``key=value``: fixing it so, or leaving it free."""
    table = _REGISTRY[entry.kind]
    names = [
        other.name for other in table.values()
        if other.target == entry.target
        and (key not in other.defaults or other.defaults[key] == value)
    ]
    if not names:
        return f"no registered {entry.kind} takes {key}={value!r}"
    return "use " + " or ".join(repr(n) for n in sorted(names))


def check_options(entry: NetworkEntry, cfg: Mapping[str, Any]) -> None:
    """Fail if ``cfg`` holds a keyword ``entry``'s builder does not take or its name fixes.

    Raises:
        ValueError: a keyword the builder does not take (the message lists those it takes), or
            one whose value contradicts the value the name fixes (the same value is accepted).
    """
    params = inspect.signature(entry.builder()).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [] if takes_any else sorted(set(cfg) - set(params))
    if unknown:
        free = [k for k in params if k not in entry.defaults]
        raise ValueError(
            f"{entry.kind} {entry.name!r} takes no option {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(free)}"
        )
    for key, fixed in entry.defaults.items():
        if key in cfg and cfg[key] != fixed:
            raise ValueError(
                f"{entry.kind} {entry.name!r} fixes {key}={fixed!r}; got {key}={cfg[key]!r}; "
                f"{_alternatives(entry, key, cfg[key])}"
            )


def _create(kind: Kind, name: str, init_type: str | None, init_gain: float, cfg: dict) -> nn.Module:
    entry = get_entry(kind, name)
    check_options(entry, cfg)
    net = entry.builder()(**{**cfg, **entry.defaults})
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


def create_encoder(
    name: str, *, init_type: str | None = "normal", init_gain: float = 0.02, **cfg: Any
) -> nn.Module:
    """Build feature encoder ``name`` (``encoder``) with options ``cfg`` and initialise it."""
    return _create("encoder", name, init_type, init_gain, cfg)


def _builtin(kind: Kind, name: str, target: str, description: str,
             **defaults: Any) -> None:
    register(NetworkEntry(name, kind, target, defaults, description))


_builtin("generator", "unet_128", "img2img.nn.unet:UnetGenerator",
         "U-Net with 7 downsamplings (128x128 inputs)", num_downs=7)
_builtin("generator", "unet_256", "img2img.nn.unet:UnetGenerator",
         "U-Net with 8 downsamplings (256x256 inputs)", num_downs=8)
_builtin("generator", "resnet_6blocks", "img2img.nn.resnet:ResnetGenerator",
         "ResNet encoder-decoder with 6 residual blocks", n_blocks=6)
_builtin("generator", "resnet_9blocks", "img2img.nn.resnet:ResnetGenerator",
         "ResNet encoder-decoder with 9 residual blocks", n_blocks=9)
_builtin("discriminator", "basic", "img2img.nn.patchgan:NLayerDiscriminator",
         "70x70 PatchGAN (n_layers 3)", n_layers=3)
_builtin("discriminator", "n_layers", "img2img.nn.patchgan:NLayerDiscriminator",
         "PatchGAN with --n-layers-D layers")
_builtin("discriminator", "pixel", "img2img.nn.patchgan:PixelDiscriminator",
         "1x1 PixelGAN")
