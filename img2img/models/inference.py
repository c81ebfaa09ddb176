"""A trained family's generator, ready to translate: its network, input encoding and test mode.

Every family builds an :class:`InferenceModel` from its networks (a recipe's live ones for
sample grids, or ones loaded from a checkpoint for ``translate``). ``translate`` and the sample
grids only talk to this object: how an input file is read (``input_kind``, ``in_channels``),
how a batch becomes the network's input (:meth:`InferenceModel.encode`), what size multiple
the network needs (read from the built network) and how it runs at test time
(:attr:`InferenceModel.test_mode`). Whether it runs through the CPU-only paths is decided in
one place, :func:`cpu_inference`, from the device of the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.config import RunConfig, option_flags
from img2img.data.ranges import from_model_range, to_model_range
from img2img.data.streams import Stream, StreamKind
from img2img.infer.stochastic import (
    batch_invariant,
    deterministic_copy,
    image_seed,
    paper_test_mode,
)
from img2img.nn.cpu_fast import cpu_fast_path
from img2img.nn.cpu_only import cpu_only
from img2img.nn.norms import BATCH_NORMS

#: ``paper``: the pix2pix paper's test (each image's own normalisation statistics, dropout on,
#: seeded per image); ``eval``: running statistics and no dropout (``model.eval()``).
TEST_MODES = ("paper", "eval")

#: the command-line flag of each test-time option whose flag is not its name with dashes
#: (``test_mode="eval"`` is what ``--eval`` asks for; ``dropout=False`` is ``--no-dropout``)
TEST_OPTION_FLAGS = {"test_mode": "--eval", "dropout": "--no-dropout"}


def test_option_flags(names: Sequence[str]) -> str:
    """The flags a user types for the test-time options ``names``: ``--eval, --direction``."""
    return ", ".join(TEST_OPTION_FLAGS.get(name) or option_flags([name]) for name in names)


def check_test_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`TEST_MODES`; else fail listing them."""
    if mode not in TEST_MODES:
        raise ValueError(
            f"test mode: {mode!r} is not valid; expected one of: {', '.join(TEST_MODES)}"
        )
    return mode


@dataclass
class InferenceModel:
    """A generator and everything needed to feed it and run it at test time.

    Attributes:
        net: the generator, taking ``[N, in_channels, H, W]`` in ``[-1, 1]``.
        family: the family that trained it (``pix2pix`` ...).
        network: the generator's registry name (``unet_256`` ...).
        in_channels: channels of the network input (1 or 3).
        out_channels: channels of the output image (1 or 3).
        test_mode: one of :data:`TEST_MODES`.
        dropout: in ``paper`` mode, keep dropout on (the paper) or turn it off.
        seed: run seed; image ``key`` gets the dropout seed ``image_seed(seed, key)``.
        input_kind: how input files are read: ``image`` (colour or gray pictures).
        source: the checkpoint or weights file it came from, if any.
        step: the training step of that checkpoint, if known.
        config: the run's configuration (None for published weights).
        options: the family's own test-time options as resolved (``direction`` ...), for
            summaries.
        family_networks: every network of the family's checkpoint this model was built from,
            by checkpoint name, when ``net`` is one of several (CycleGAN's ``G_A`` and
            ``G_B``), so a release of the model keeps them all; None: just ``net``.
    """

    net: nn.Module
    family: str
    network: str
    in_channels: int
    out_channels: int
    test_mode: str = "eval"
    dropout: bool = True
    seed: int = 0
    input_kind: StreamKind = "image"
    source: Path | None = None
    step: int | None = None
    config: RunConfig | None = None
    options: dict[str, Any] = field(default_factory=dict)
    family_networks: dict[str, nn.Module] | None = None

    def __post_init__(self) -> None:
        check_test_mode(self.test_mode)

    @property
    def input_stream(self) -> Stream:
        """How each input file is read (and resized, with ``--size``)."""
        return Stream("input", self.input_kind, self.in_channels)

    @property
    def input_streams(self) -> tuple[Stream, ...]:
        """Every stream one input is made of; the first is read from the input file itself.

        Models with companion inputs (pix2pixHD: a label map and its instance map) list them
        here and say where each comes from in :meth:`input_files`.
        """
        return (self.input_stream,)

    def input_files(self, src: Path, key: str) -> dict[str, Path]:
        """The file of each input stream for the input file ``src`` (relative name ``key``).

        A stream may be left out (an optional companion); :meth:`encode_streams` then does
        without it.

        Raises:
            OSError or ValueError: a companion file that must exist does not.
        """
        return {self.input_stream.name: src}

    @property
    def variants(self) -> tuple[str, ...]:
        """The outputs made from each input, by the suffix added to the output's stem.

        One output (``("",)``) for most models; pix2pixHD's ``--all-styles`` makes one per
        style (``_style0``, ``_style1`` ...).
        """
        return ("",)

    def encode_streams(
        self, inputs: Mapping[str, Tensor], keys: Sequence[str], variants: Sequence[str]
    ) -> Tensor:
        """The network input for a batch of decoded streams.

        Args:
            inputs: ``{stream name: [N, C, H, W]}``: images in ``[0, 1]``, id maps as int64.
            keys: the name of each image (seeds anything random about it).
            variants: the variant (one of :attr:`variants`) each image is made for.
        """
        return self.encode(inputs[self.input_stream.name])

    @property
    def size_multiple(self) -> int:
        """Height and width of the network input must be multiples of this."""
        return int(getattr(self.net, "size_multiple", 1))

    @property
    def min_size(self) -> int:
        """Smallest height and width the network takes."""
        return int(getattr(self.net, "min_size", 1))

    @property
    def networks(self) -> dict[str, nn.Module]:
        """The modules to move to a device, speed up or release, by checkpoint name."""
        return dict(self.family_networks) if self.family_networks else {"G": self.net}

    def to(self, device: str | torch.device) -> InferenceModel:
        """Move the networks to ``device`` (in place) and return self."""
        for net in self.networks.values():
            net.to(device)
        return self

    def encode(self, images: Tensor) -> Tensor:
        """Turn a batch of decoded inputs (``[N, C, H, W]`` in ``[0, 1]``) into network input."""
        return to_model_range(images)

    def decode(self, output: Tensor) -> Tensor:
        """Turn network output into images in ``[0, 1]`` (float32)."""
        return from_model_range(output.float())

    @property
    def has_dropout(self) -> bool:
        """Whether the generator has dropout layers."""
        return any(isinstance(m, nn.Dropout) for m in self.net.modules())

    @property
    def has_running_statistics(self) -> bool:
        """Whether the generator normalises with running statistics in eval mode (batch
        norm); instance norm keeps none and uses each image's own in every mode."""
        return any(isinstance(m, BATCH_NORMS) and m.track_running_stats
                   for m in self.net.modules())

    def describe_mode(self) -> str:
        """The test-time behaviour in words, with the family's own options, for summaries."""
        own = "".join(f"; {k} {v}" for k, v in self.options.items())
        return self._describe_test_mode() + own

    def _describe_test_mode(self) -> str:
        if self.test_mode == "paper":
            if not self.has_dropout:
                return "paper (each image's own statistics; the network has no dropout)"
            dropout = "dropout on" if self.dropout else "dropout off"
            return f"paper (each image's own statistics, {dropout})"
        if self.has_running_statistics:
            return "eval (running statistics, no dropout)"
        return "eval (each image's own statistics: its normalisation keeps no running " \
            "statistics; no dropout)"

    # --- export -----------------------------------------------------------------------------
    @property
    def network_in_channels(self) -> int:
        """Channels of the network's own input, what an export takes: ``in_channels`` unless
        the family encodes an input into more (pix2pixHD's one-hot classes)."""
        return self.in_channels

    @property
    def input_encoding(self) -> str:
        """How a read input becomes the network's input, in words (export metadata)."""
        return "the image, scaled from [0, 1] to [-1, 1]"

    def export_state(self) -> dict[str, Any]:
        """What an export must carry, in JSON types, to encode inputs as this model does; the
        family's ``inference_state`` reads it back. Nothing by default."""
        return {}

    def example_input(self, batch: int, height: int, width: int) -> Tensor:
        """A network input of this shape (encoded, in [-1, 1]): what export traces with."""
        generator = torch.Generator().manual_seed(0)
        return torch.rand(batch, self.in_channels, height, width, generator=generator) * 2 - 1

    def deterministic_network(self) -> tuple[nn.Module, list[str]]:
        """One plain module computing this model's test-time output, and notes on what differs.

        Per-image dropout noise cannot live in an exported graph: the module runs with dropout
        off, so it computes what :meth:`run` computes with ``dropout=False``. In the paper's
        test mode, batch norm with each image's own statistics becomes instance normalisation.
        """
        paper = self.test_mode == "paper"
        notes = []
        if paper and self.dropout and self.has_dropout:
            notes.append(
                "dropout is off: per-image dropout noise cannot be exported, so the exported "
                "network computes what 'translate --no-dropout' computes"
            )
        if paper and any(isinstance(m, BATCH_NORMS) for m in self.net.modules()):
            notes.append(
                "batch norm normalises each image with its own statistics (the paper's test "
                "mode): exported as instance normalisation"
            )
        return deterministic_copy(self.net, image_statistics=paper), notes

    def deterministic_mode(self) -> str:
        """In words, what :meth:`deterministic_network` computes."""
        if self.test_mode == "paper":
            return "paper (each image's own statistics, dropout off)"
        return self.describe_mode()

    def describe(self) -> dict[str, Any]:
        """What the model is, as plain values (export metadata, evaluation records)."""
        return {
            "family": self.family,
            "network": self.network,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "input_kind": self.input_kind,
            "size_multiple": self.size_multiple,
            "min_size": self.min_size,
            "test_mode": self.describe_mode(),
            "source": None if self.source is None else str(self.source),
            "step": self.step,
            "options": dict(self.options),
        }

    def run(self, x: Tensor, keys: Sequence[str]) -> Tensor:
        """The network's output for encoded inputs ``x``, image ``i`` named ``keys[i]``.

        The network is put in eval mode for the call (each module's mode is restored after).
        An image's output depends only on the image and its key, never on the rest of the
        batch (bit for bit on the CPU, where :func:`cpu_inference` makes the convolutions
        batch-invariant; on other devices up to the rounding of the kernels picked per shape).
        """
        with eval_mode(self.net), cpu_inference(self.net, x.device), self._test_time(keys):
            return self.net(x)

    def _test_time(self, keys: Sequence[str]) -> contextlib.AbstractContextManager:
        if self.test_mode == "paper":
            seeds = [image_seed(self.seed, key) for key in keys]
            # the convolutions are cpu_inference's: batch-invariant on the CPU, plain elsewhere
            return paper_test_mode(self.net, seeds, dropout=self.dropout, convolutions=False)
        return contextlib.nullcontext()


@contextlib.contextmanager
def cpu_inference(net: nn.Module, device: str | torch.device) -> Iterator[nn.Module]:
    """Run ``net`` through the CPU-only inference paths for the block, where ``device`` is the CPU.

    The one place inference decides on them. On the CPU, ``net``'s convolutions switch to the
    fast layers of :mod:`img2img.nn.cpu_fast` (weights packed once, channels-last, sub-pixel
    output layers) and run batch-invariant (:func:`~img2img.infer.stochastic.batch_invariant`:
    probed once per shape, with the verdicts remembered on disk by
    :mod:`img2img.infer.verdicts`); both are undone on exit. On any other device (CUDA, MPS,
    meta) ``net`` is left as it is: the plain torch layers run.
    """
    if not cpu_only(device):
        yield net
        return
    with cpu_fast_path(net), batch_invariant(net):
        yield net


@contextlib.contextmanager
def eval_mode(*nets: nn.Module):
    """Put ``nets`` in eval mode for the block; every module's own mode is restored after."""
    modes = [(module, module.training) for net in nets for module in net.modules()]
    for net in nets:
        net.eval()
    try:
        yield nets
    finally:
        for module, training in modes:
            module.training = training


def image_model(
    net: nn.Module, family: str, network: str, in_channels: int, out_channels: int,
    test_options: Mapping[str, Any], default_mode: str, **attributes: Any,
) -> InferenceModel:
    """The inference model of an image generator ``net`` under ``test_options``
    (``test_mode``, default ``default_mode``; ``dropout``, default on; ``seed``, default 0);
    ``attributes`` are the model's others (``config``, ``options`` ...)."""
    dropout = test_options.get("dropout")
    return InferenceModel(
        net, family, network, in_channels, out_channels,
        test_mode=check_test_mode(test_options.get("test_mode") or default_mode),
        dropout=True if dropout is None else bool(dropout),
        seed=test_options.get("seed") or 0,
        **attributes,
    )


def take_options(
    family: str, options: Mapping[str, Any], accepted: Sequence[str]
) -> dict[str, Any]:
    """Fail naming an option (set to anything but None) that ``family`` does not take.

    Returns the options given (not None) that ``family`` takes.
    """
    unused = sorted(k for k, v in options.items() if v is not None and k not in accepted)
    if unused:
        raise ValueError(
            f"{test_option_flags(unused)}: not used by {family} models; they take: "
            + (test_option_flags(accepted) or "no options")
        )
    return {k: v for k, v in options.items() if v is not None}
