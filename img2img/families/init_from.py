"""``--init-from``: fine-tune a run from another's networks, for every family.

The source is a run directory (its latest checkpoint), a checkpoint file, an img2img
``.safetensors`` release, a bare generator ``state_dict`` (``.pth``), or the name of a
published model, downloaded on first use as ``translate`` does. A recipe names the networks it
may take (:class:`Target`, from :meth:`~img2img.engine.recipe.TrainingRecipe.init_targets`):
each takes the first of its source networks the file holds, when its layout matches; else it
starts fresh, and says why. A run whose generators all start fresh is refused. Optimizers and
schedules are always fresh and the run starts at step 0.

:func:`check_init_from` does all of this on the networks built on the meta device (nothing is
allocated or copied), before the run directory exists; :func:`warm_start` then loads the
weights into the run's networks. Neither runs on resume: the run's config records the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from img2img import completion
from img2img.config import ConfigError, RunConfig
from img2img.options import MODEL, option

if TYPE_CHECKING:  # the option is declared without importing torch
    from torch import Tensor, nn

    Loader = Callable[[nn.Module, Mapping[str, Tensor]], str | None]

#: what ``--init-from`` accepts, in words (for messages)
EXPECTED = ("a run directory, a checkpoint, a published model name or a generator .pth/"
            ".safetensors file")


def parse_init_from(value: Any) -> str:
    """``--init-from``: an existing path or a published model name (checked, not read yet)."""
    from img2img.hub.weights import is_published_name

    text = str(value)
    path = Path(text).expanduser()
    if path.exists() or is_published_name(text):
        return text
    raise ConfigError(_not_found(text))


def _not_found(value: str) -> str:
    from img2img.hub.weights import not_found

    return not_found(value, Path(value).expanduser(), "--init-from")


def init_from_option(extra: str = "") -> dict[str, Any]:
    """The ``--init-from`` option of a family's model config (``extra``: its own remark)."""
    return option(
        "--init-from", "Fine-tune: start from this run (its latest checkpoint), checkpoint, "
        "published model or generator .pth/.safetensors; generators and the discriminators "
        f"whose layout matches are loaded, optimizers start fresh.{extra}", MODEL,
        type=str, parse=parse_init_from, complete=completion.models)


def load_same_layout(net: nn.Module, state: Mapping[str, Tensor]) -> None:  # a Loader
    """Load ``state`` into ``net`` if its names and shapes are ``net``'s (a meta-device
    ``net`` is only compared).

    Raises:
        ValueError: the layouts differ; the message names the first difference.
    """
    from img2img.checkpoints import state_mismatch

    problem = state_mismatch(net.state_dict(), state)
    if problem is not None:
        raise ValueError(f"its layout differs: {problem}")
    if not _is_meta(net):
        net.load_state_dict(state)


@dataclass(frozen=True)
class Target:
    """A network of the run that ``--init-from`` may load.

    Attributes:
        sources: the source's networks it takes, the first one present (``("G_A", "G")``).
        generator: the run needs it loaded (a run whose generators all start fresh is refused).
        load: loads a state into the network (returning None, or a remark on what it
            loaded), or raises ValueError saying why it does not fit.
        fresh: why it always starts fresh, when ``sources`` is empty.
    """

    sources: tuple[str, ...]
    generator: bool = False
    load: Loader = load_same_layout
    fresh: str = ""


@dataclass(frozen=True)
class InitSource:
    """The networks ``--init-from`` names: ``value`` as given, ``origin`` in words."""

    value: str
    origin: str
    nets: Mapping[str, Mapping[str, Tensor]]


def read_source(value: str, family: str, weights_dir: str | None = None) -> InitSource:
    """The networks of ``value`` for a ``family`` run (published names are downloaded).

    Raises:
        ConfigError: no such file or name, unreadable, or another family's; naming ``value``.
    """
    from img2img.checkpoints import CheckpointError
    from img2img.hub.download import DownloadError
    from img2img.hub.weights import WeightsError

    try:
        return _read_source(value, family, weights_dir)
    except (CheckpointError, WeightsError, DownloadError, OSError) as exc:
        raise ConfigError(f"--init-from {value}: {exc}; expected {EXPECTED}") from exc


def _read_source(value: str, family: str, weights_dir: str | None) -> InitSource:
    from img2img.checkpoints import (
        FORMAT,
        CheckpointError,
        check_checkpoint,
        read_checkpoint_file,
        require_entries,
        resolve_checkpoint,
    )
    from img2img.hub.weights import is_published_name
    from img2img.models.published import is_bare_state_dict, strip_parallel_prefix
    from img2img.models.released import SUFFIX as RELEASE_SUFFIX
    from img2img.models.released import read_release

    path = Path(value).expanduser()
    if not path.exists():
        if not is_published_name(value):
            raise ConfigError(_not_found(value))
        return _published(value, family, weights_dir)
    if path.is_file() and path.suffix.lower() == RELEASE_SUFFIX:
        try:
            nets, metadata = read_release(path)
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
        kind = f"a {metadata['family']} release"
        if metadata["config"] is None:  # published weights, released as they were
            return InitSource(value, f"{path} (published weights)", {"G": nets["G"]})
        _same_family(value, metadata["family"], family, kind)
        return InitSource(value, f"{path} ({kind}, step {metadata['step']})", nets)
    file = resolve_checkpoint(path)
    data = read_checkpoint_file(file, mmap=True)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        require_entries(data, file, {"family": str, "step": int, "nets": dict})
        nets = [f"nets/{name}" for name in data["nets"]]
        check_checkpoint(data, file, verify=("family", "step", *nets))
        _same_family(value, data["family"], family, f"a {data['family']} run")
        return InitSource(value, f"{file} ({data['family']} run, step {data['step']})",
                          data["nets"])
    if is_bare_state_dict(data):
        return InitSource(value, str(file), {"G": strip_parallel_prefix(data)})
    raise CheckpointError(f"{file}: not an img2img checkpoint nor a generator state_dict")


def published_entry(value: str | None, family: str) -> Any:
    """The registry entry ``value`` names for a ``family`` run (a bare name two families
    publish means ``family``'s), or None when ``value`` is no published name or is a path.

    Raises:
        ConfigError: it names another family's model.
    """
    from img2img.hub.weights import get_published, is_published_name, load_registry

    if value is None or Path(value).expanduser().exists() or not is_published_name(value):
        return None
    own = f"{family}/{value}"
    entry = get_published(own if is_published_name(own) else value)
    if entry.family != family:
        names = ", ".join(e.name for e in load_registry() if e.family == family)
        raise ConfigError(
            f"--init-from {value}: a published {entry.family} model; expected a {family} one"
            + (f" ({names})" if names else " (none is published)"))
    return entry


def _published(name: str, family: str, weights_dir: str | None) -> InitSource:
    """The published model of ``family`` called ``name``, downloaded on first use."""
    from img2img.checkpoints import CheckpointError, read_checkpoint_file
    from img2img.hub.weights import fetch
    from img2img.models.published import is_bare_state_dict, strip_parallel_prefix

    entry = published_entry(name, family)
    path = fetch(entry, weights_dir)
    data = read_checkpoint_file(path, mmap=True)
    if not is_bare_state_dict(data):
        raise CheckpointError(f"{path}: not the generator state_dict published as {name}")
    return InitSource(name, f"published {entry.qualified_name} ({path})",
                      {"G": strip_parallel_prefix(data)})


def _same_family(value: str, found: str, family: str, kind: str) -> None:
    if found != family:
        raise ConfigError(f"--init-from {value}: {kind}; expected a {family} one")


def _is_meta(net: nn.Module) -> bool:
    return any(t.is_meta for t in net.state_dict().values())


def _without_legacy_stats(net: nn.Module, state: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    from img2img.models.published import drop_legacy_stats

    return drop_legacy_stats(state, net)


def apply(nets: Mapping[str, nn.Module], targets: Mapping[str, Target],
          source: InitSource) -> list[str]:
    """Load ``source`` into ``nets`` (only compared where they live on the meta device);
    one line per network: what it was loaded from, or why it starts fresh.

    Raises:
        ConfigError: no generator could be loaded, naming why the first did not fit.
    """
    notes, loaded, refusals = [], set(), []
    for name in nets:
        target = targets.get(name, Target((), fresh="--init-from does not load it"))
        present = [s for s in target.sources if s in source.nets]
        if not present:
            why = target.fresh or (f"the source holds no {' or '.join(target.sources)} "
                                   f"(only {', '.join(source.nets)})")
            notes.append(f"{name}: starts fresh ({why})")
            continue
        try:
            remark = target.load(nets[name],
                                 _without_legacy_stats(nets[name], source.nets[present[0]]))
        except ValueError as exc:
            notes.append(f"{name}: starts fresh ({exc})")
            if target.generator:
                theirs = "" if present[0] == name else f" (from {present[0]})"
                refusals.append(f"{name}{theirs}: {exc}")
            continue
        loaded.add(name)
        theirs = "" if present[0] == name else f"{present[0]} of "
        notes.append(f"{name}: loaded from {theirs}{source.origin}"
                     + (f"; {remark}" if remark else ""))
    generators = [name for name in nets if targets.get(name, Target(())).generator]
    if generators and not loaded & set(generators):
        why = refusals[0] if refusals else f"it holds {', '.join(source.nets)}"
        raise ConfigError(
            f"--init-from {source.value}: no generator of this run fits ({why}); expected "
            f"weights of a generator like this run's {' or '.join(generators)} (the same "
            "--netG, --ngf and channels)")
    return notes


def check_init_from(config: RunConfig) -> list[str]:
    """What ``--init-from`` would load, checked on the networks built on the meta device
    (nothing allocated); [] without it.

    Raises:
        ConfigError: see :func:`read_source` and :func:`apply`.
    """
    value = getattr(config.model, "init_from", None)
    if value is None:
        return []
    import torch

    from img2img.engine.device import Precision
    from img2img.families import get_family

    meta = torch.device("meta")
    with meta:
        recipe = get_family(config.family).recipe_class()(config, meta, Precision("fp32", meta))
    return apply(recipe.nets, recipe.init_targets(), read_source(value, config.family))


def warm_start(recipe: Any) -> list[str]:
    """Load ``--init-from``'s networks into ``recipe``'s (a fresh run's); says what it did."""
    value = getattr(recipe.config.model, "init_from", None)
    if value is None:
        return []
    import torch

    source = read_source(value, recipe.config.family)
    with torch.no_grad():
        return apply(recipe.nets, recipe.init_targets(), source)
