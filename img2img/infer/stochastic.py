"""The pix2pix paper's test-time behaviour, made independent of the batch.

The paper translates test images with dropout still on and with batch normalisation using the
test image's own statistics (what BatchNorm does in training mode at batch size 1).
:func:`paper_test_mode` reproduces that for a whole batch at once while keeping each image's
result a function of that image and its seed alone: every ``BatchNorm2d`` normalises each image
with its own statistics, and every ``nn.Dropout`` draws each image's mask from that image's own
random generator. Batch size, order and neighbours then change nothing.

Convolutions need one more step to be exact on the CPU. For float32 inputs PyTorch runs a
convolution on a single small image (at most 20480 input elements, kernel side at most 3, and
1x1 convolutions when single-threaded) with its native kernel but the same convolution on a
batch with oneDNN; the two round differently. :func:`batch_invariant` runs the layers that can
be affected (per-image input up to :data:`SMALL_CONV_INPUT` elements, and 1x1 ones when
single-threaded) image by image, so a batch gives bit-for-bit the results of its images one at
a time; the large layers, where the time goes, keep running on the whole batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["batch_invariant", "image_seed", "paper_test_mode"]

#: Input elements per image up to which a CPU convolution may take a different kernel for one
#: image than for a batch (PyTorch's threshold is 20480; the margin costs next to nothing).
SMALL_CONV_INPUT = 32768


def image_seed(seed: int, key: str) -> int:
    """A stable 63-bit seed for one image from the run ``seed`` and the image's ``key``.

    The key is normally the input's path relative to the input folder, written with ``/``, so
    the same file gets the same dropout masks in every run, batch and process. The value comes
    from SHA-256 and does not depend on Python's per-process string hashing.
    """
    digest = hashlib.sha256(f"{int(seed)}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class _ImageStreams:
    """One random generator per image of the batch, created on first use on the data's device."""

    def __init__(self, seeds: Sequence[int] | None) -> None:
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self._generators: dict[torch.device, list[torch.Generator]] = {}

    def generators(self, n: int, device: torch.device) -> list[torch.Generator | None]:
        if self.seeds is None:
            return [None] * n  # the global generator: masks then depend on the batch
        if len(self.seeds) != n:
            raise ValueError(
                f"paper_test_mode was given {len(self.seeds)} seeds for a batch of {n} images; "
                "expected one seed per image"
            )
        if device not in self._generators:
            self._generators[device] = [
                torch.Generator(device=device).manual_seed(s) for s in self.seeds
            ]
        return list(self._generators[device])


class _ImageStatsBatchNorm(nn.Module):
    """Stands in for a ``BatchNorm2d``: each image normalised with its own mean and variance.

    The original layer stays a child, so its affine weight, bias and ``eps`` are used as they
    are and its running statistics are never read or updated.
    """

    def __init__(self, bn: nn.BatchNorm2d | nn.SyncBatchNorm) -> None:
        super().__init__()
        self.bn = bn

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"BatchNorm2d expects [N, C, H, W] input, got shape {tuple(x.shape)}")
        # instance_norm runs BatchNorm's training-mode kernel with every (image, channel) pair
        # as its own channel: at batch size 1 it is exactly BatchNorm2d in training mode.
        return F.instance_norm(
            x, None, None, self.bn.weight, self.bn.bias, use_input_stats=True, eps=self.bn.eps
        )


class _PerImageDropout(nn.Module):
    """Stands in for an ``nn.Dropout``: each image's mask comes from that image's generator."""

    def __init__(self, dropout: nn.Dropout, streams: _ImageStreams, enabled: bool) -> None:
        super().__init__()
        self.dropout = dropout
        self.streams = streams
        self.enabled = enabled

    def forward(self, x: Tensor) -> Tensor:
        p = float(self.dropout.p)
        if not self.enabled or p == 0.0 or x.shape[0] == 0:
            return x
        if p == 1.0:
            return torch.zeros_like(x)
        generators = self.streams.generators(x.shape[0], x.device)
        noise = torch.stack(
            [torch.rand(x.shape[1:], generator=g, device=x.device) for g in generators]
        )
        keep = (noise >= p).to(x.dtype)
        return x * keep * (1.0 / (1.0 - p))


def _kernel_may_differ(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> bool:
    """Whether one image of ``x`` may take another CPU convolution kernel than the batch."""
    if x.device.type != "cpu" or x.dim() != 4 or x.shape[0] < 2:
        return False
    if x[0].numel() <= SMALL_CONV_INPUT:
        return True
    pointwise = (
        conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.dilation == (1, 1)
    )
    return pointwise and torch.get_num_threads() == 1


class _ImageByImageConv(nn.Module):
    """Stands in for a convolution: small CPU inputs run image by image (see the module doc)."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor, *args: object) -> Tensor:
        if not _kernel_may_differ(self.conv, x):
            return self.conv(x, *args)
        return torch.cat([self.conv(x[i : i + 1], *args) for i in range(x.shape[0])])


_WRAPPERS = (_ImageStatsBatchNorm, _PerImageDropout, _ImageByImageConv)
_BATCH_NORMS = (nn.BatchNorm2d, nn.SyncBatchNorm)
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)

StandIn = Callable[[nn.Module], nn.Module | None]


def _conv_stand_in(module: nn.Module) -> nn.Module | None:
    return _ImageByImageConv(module) if isinstance(module, _CONVS) else None


def _paper_stand_in(streams: _ImageStreams, dropout: bool) -> StandIn:
    def stand_in(module: nn.Module) -> nn.Module | None:
        if isinstance(module, _BATCH_NORMS):
            return _ImageStatsBatchNorm(module)
        if isinstance(module, nn.Dropout):
            return _PerImageDropout(module, streams, dropout)
        return _conv_stand_in(module)

    return stand_in


@contextmanager
def _swapped(net: nn.Module, stand_in: StandIn, what: str) -> Iterator[nn.Module]:
    """Replace the descendants of ``net`` that ``stand_in`` covers, and put them back."""
    if stand_in(net) is not None:
        raise ValueError(f"{what} needs a network containing its layers, "
                         f"got a bare {type(net).__name__}")
    parents = list(net.modules())
    if any(isinstance(m, _WRAPPERS) for m in parents):
        raise RuntimeError(f"{what}: batch_invariant or paper_test_mode is already active "
                           "on this network")
    replaced: dict[int, nn.Module] = {}
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for parent in parents:
            for name, child in list(parent._modules.items()):
                if child is None:
                    continue
                if id(child) not in replaced:
                    new = stand_in(child)
                    if new is None:
                        continue
                    replaced[id(child)] = new
                setattr(parent, name, replaced[id(child)])
                swapped.append((parent, name, child))
        yield net
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)


@contextmanager
def batch_invariant(net: nn.Module) -> Iterator[nn.Module]:
    """Make ``net``'s CPU convolutions give each image the result it gets alone.

    Inside the block, the ``Conv2d`` and ``ConvTranspose2d`` layers whose per-image input is
    small enough for PyTorch to pick a different CPU kernel for one image than for a batch run
    image by image; the others run on the whole batch as before. Other devices are unchanged.
    Layers are swapped for stand-ins sharing the original parameters and put back on exit.

    Raises:
        ValueError: ``net`` is itself a convolution.
        RuntimeError: this mode or :func:`paper_test_mode` is already active on ``net``.
    """
    with _swapped(net, _conv_stand_in, "batch_invariant"):
        yield net


@contextmanager
def paper_test_mode(
    net: nn.Module, seeds: Sequence[int] | None = None, dropout: bool = True
) -> Iterator[nn.Module]:
    """Run ``net`` the way the pix2pix paper tests, image by image, for the ``with`` block.

    Inside the block every ``nn.BatchNorm2d`` (or ``SyncBatchNorm``) of ``net`` normalises each
    image with that image's own per-channel statistics (its affine weight, bias and ``eps``
    are used; running statistics are neither used nor updated), and every ``nn.Dropout``
    zeroes activations with a mask drawn per image from a ``torch.Generator`` seeded with
    ``seeds[i]`` on the data's device. Convolutions behave as under :func:`batch_invariant`.
    An image's output therefore depends only on the image and its seed, not on the batch
    size, the order or the other images (bit for bit on the CPU; on a GPU up to the rounding
    of the convolution algorithms cuDNN picks per shape). The layers are swapped
    for stand-ins that share the original parameters and are put back on exit, also when the
    block raises; no weight or buffer is changed.

    Args:
        net: the network; the layers are found among its descendants.
        seeds: one seed per image of each batch run inside the block, in batch order (see
            :func:`image_seed`). ``None`` draws masks from PyTorch's global generator, which
            makes the result depend on the batch.
        dropout: ``False`` turns dropout off entirely (statistics stay per image).

    Yields:
        ``net`` itself.

    Raises:
        ValueError: when ``net`` is itself a ``BatchNorm2d``, ``Dropout`` or convolution (it
            cannot be swapped from inside), or a batch's size differs from ``len(seeds)``.
        RuntimeError: when this mode or :func:`batch_invariant` is already active on ``net``.
    """
    with _swapped(net, _paper_stand_in(_ImageStreams(seeds), dropout), "paper_test_mode"):
        yield net
