"""The pix2pix paper's test-time behaviour, made independent of the batch.

The paper translates test images with dropout still on and with batch normalisation using the
test image's own statistics (what BatchNorm does in training mode at batch size 1).
:func:`paper_test_mode` reproduces that for a whole batch at once while keeping each image's
result a function of that image and its seed alone: every ``BatchNorm2d`` normalises each image
with its own statistics, and every ``nn.Dropout`` draws each image's mask from that image's own
random generator. Batch size, order and neighbours then change nothing.

Convolutions need one more step to be exact on the CPU, where the kernel that runs, and the
order in which it sums, may depend on the batch size: PyTorch computes a single small image with
its native kernel but a batch with oneDNN, and oneDNN (like MKL's matrix products) sizes its
blocks from the batch size, the thread count and the CPU's caches (on AVX2, for instance,
transposed convolutions of many shapes round an image differently alone than inside a batch of 8
once 2 threads run). No library promises an order of summation, and no formulation that shares
one weight pass between the images of a batch can be exact by construction: the library picks
its kernel from the shape of the whole product. So :func:`batch_invariant` (and with it
:func:`paper_test_mode`) checks it: the first time a CPU convolution meets a batch of a given
shape (per layer class and geometry, input shape and strides, dtype, thread count, grad and
autocast state), it runs a seeded random probe of that shape on the whole batch and image by
image and compares the two bit for bit. Where they agree (in every layer of ``unet_256`` and
``resnet_9blocks`` at 256x256 with 2 threads, AVX-512 and AVX2) the batch runs whole from then on;
where they differ the layer runs image by image. Verdicts are remembered on disk per machine and
library build (:mod:`img2img.infer.verdicts`), so only the first process on a machine pays the
probes: the first batch of each new shape (the whole batch, then image by image, per layer),
about 4-5 times a later batch's time for ``unet_256`` at batch 8 on one CPU thread.

The other layers are exact by construction: batch norm takes each image's statistics with the
same call per image (on channels-last input, which the CPU fast path of
:mod:`img2img.nn.cpu_fast` produces, image by image into one output), dropout masks come from
each image's generator, and element-wise layers compute each value on its own.

What is guaranteed on the CPU, whatever its instruction set: inside these modes each image's output
is bit for bit the output it gets in a batch of one, in the same mode, process and thread count
(a different thread count may round differently). This rests only on the convolution kernels
being deterministic for a fixed shape and thread count, which PyTorch's and oneDNN's CPU
convolutions are. On a GPU the result is equal only up to the rounding of the convolution
algorithms cuDNN picks per shape.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.infer.verdicts import VerdictStore, open_store
from img2img.nn.capture import graph_capture
from img2img.nn.cpu_only import cpu_only
from img2img.nn.norms import BATCH_NORMS

__all__ = ["batch_invariant", "deterministic_copy", "image_seed", "paper_test_mode"]

#: Seed of the random probe that checks whether a convolution treats a batch as its images.
PROBE_SEED = 0x1A2B


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
        if x.device.type == "cpu" and _channels_last(x) and not graph_capture():
            return self._image_by_image(x)  # a traced loop would fix the batch size
        # instance_norm runs BatchNorm's training-mode kernel with every (image, channel) pair
        # as its own channel: at batch size 1 it is exactly BatchNorm2d in training mode.
        return F.instance_norm(
            x, None, None, self.bn.weight, self.bn.bias, use_input_stats=True, eps=self.bn.eps
        )

    def _image_by_image(self, x: Tensor) -> Tensor:
        """BatchNorm's training-mode kernel on each image alone, written into one output.

        For channels-last input (what the CPU fast path produces), where ``instance_norm``
        would first copy the batch to the plain layout. Every image makes the same call, so
        its result is that of a batch of one: BatchNorm2d in training mode, bit for bit.
        """
        out = torch.empty_like(x)
        # statistics in the affine parameters' dtype: fp32 for half-precision activations
        mean = self.bn.weight.new_empty(x.shape[1]) if self.bn.weight is not None else (
            x.new_empty(x.shape[1], dtype=torch.promote_types(x.dtype, torch.float32)))
        invstd = torch.empty_like(mean)
        for i in range(x.shape[0]):
            torch.ops.aten.native_batch_norm.out(
                x[i : i + 1], self.bn.weight, self.bn.bias, None, None, True, 0.0, self.bn.eps,
                out=out[i : i + 1], save_mean=mean, save_invstd=invstd,
            )
        return out


def _channels_last(x: Tensor) -> bool:
    """Whether ``x`` is laid out channels-last (and not also plain, as 1x1 grids are)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


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


def _probe_key(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> tuple:
    """Everything that may change which CPU kernel ``conv`` runs on ``x``, and how."""
    return (
        type(conv), conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
        conv.padding, conv.dilation, conv.groups, getattr(conv, "output_padding", None),
        conv.padding_mode, conv.bias is None, conv.weight.dtype, conv.weight.stride(),
        tuple(x.shape), x.stride(), x.dtype, torch.get_num_threads(),
        torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"),
        torch.get_autocast_dtype("cpu"), torch.backends.mkldnn.enabled,
    )


#: probe verdicts of this process: whether a batch of a key's shape gives each image its result
_BATCH_EXACT: dict[tuple, bool] = {}
#: the verdicts remembered on disk for this machine and build (:mod:`img2img.infer.verdicts`)
_STORE: VerdictStore | None = None


def _stored_verdicts() -> VerdictStore:
    global _STORE
    _STORE = open_store(_STORE)
    return _STORE


def _stored_key(key: tuple) -> str:
    """``key`` as text: the layer class by its qualified name, the rest by ``repr``."""
    kind = key[0]
    return repr((f"{kind.__module__}.{kind.__qualname__}", *key[1:]))


def _batch_is_exact(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> bool:
    """Whether ``conv`` on ``x``'s batch gives each image bit for bit its result alone.

    Decided once per :func:`_probe_key` by running a seeded random probe of ``x``'s shape,
    strides and dtype both ways (random values: sums in another order then round differently
    somewhere); the kernels being deterministic for a fixed shape, the verdict holds for every
    later input with the same key. Verdicts are kept for the process and on disk for the
    machine (:mod:`img2img.infer.verdicts`).
    """
    key = _probe_key(conv, x)
    verdict = _BATCH_EXACT.get(key)
    if verdict is not None:
        return verdict
    store = _stored_verdicts()
    verdict = store.get(_stored_key(key))
    if verdict is None:
        generator = torch.Generator(device=x.device).manual_seed(PROBE_SEED)
        probe = torch.empty_like(x).normal_(generator=generator)
        with torch.no_grad():  # forward itself: the probe is no call for hooks to see
            whole = conv.forward(probe)
            alone = torch.cat([conv.forward(probe[i : i + 1]) for i in range(probe.shape[0])])
        verdict = torch.equal(whole, alone)
        store.put(_stored_key(key), verdict)
    _BATCH_EXACT[key] = verdict
    return verdict


def _remember_verdicts() -> None:
    """Write new verdicts to disk (at the end of each ``with`` block, not per layer)."""
    if _STORE is not None:
        _STORE.flush()


class _ImageByImageConv(nn.Module):
    """Stands in for a convolution: on the CPU, runs image by image unless the batch is exact."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor, *args: object) -> Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or x.shape[0] < 2:
            return self.conv(x, *args)
        if not args and _batch_is_exact(self.conv, x):
            return self.conv(x)
        return torch.cat([self.conv(x[i : i + 1], *args) for i in range(x.shape[0])])


_WRAPPERS = (_ImageStatsBatchNorm, _PerImageDropout, _ImageByImageConv)
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)

StandIn = Callable[[nn.Module], nn.Module | None]


def _conv_stand_in(module: nn.Module) -> nn.Module | None:
    """The image-by-image stand-in of a CPU convolution (None for a CUDA one: left as it is)."""
    return _ImageByImageConv(module) if isinstance(module, _CONVS) and cpu_only(module) else None


def _paper_stand_in(streams: _ImageStreams, dropout: bool, convolutions: bool) -> StandIn:
    def stand_in(module: nn.Module) -> nn.Module | None:
        if isinstance(module, BATCH_NORMS):
            return _ImageStatsBatchNorm(module)
        if isinstance(module, nn.Dropout):
            return _PerImageDropout(module, streams, dropout)
        return _conv_stand_in(module) if convolutions else None

    return stand_in


def _replace(net: nn.Module, stand_in: StandIn) -> list[tuple[nn.Module, str, nn.Module]]:
    """Put ``stand_in(child)`` in place of every descendant it covers; return what was replaced.

    A module reached twice (shared) gets one stand-in. The list holds ``(parent, name, original)``
    in replacement order.
    """
    replaced: dict[int, nn.Module] = {}
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(net.modules()):
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
    return swapped


@contextmanager
def _swapped(net: nn.Module, stand_in: StandIn, what: str) -> Iterator[nn.Module]:
    """Replace the descendants of ``net`` that ``stand_in`` covers, and put them back.

    Fails when a layer ``stand_in`` covers is already stood in for (the stand-in's own layer
    is then among the descendants): the two modes would wrap it twice.
    """
    if stand_in(net) is not None:
        raise ValueError(f"{what} needs a network containing its layers, "
                         f"got a bare {type(net).__name__}")
    if any(isinstance(m, _WRAPPERS) and stand_in(next(m.children())) is not None
           for m in net.modules()):
        raise RuntimeError(f"{what}: batch_invariant or paper_test_mode is already active "
                           "on this network")
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        swapped = _replace(net, stand_in)
        yield net
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)


def deterministic_copy(net: nn.Module, *, image_statistics: bool) -> nn.Module:
    """A copy of ``net`` in eval mode that computes its test-time output with no randomness.

    Dropout is off (eval mode). With ``image_statistics`` (the paper's test mode) every
    ``BatchNorm2d`` normalises each image with its own statistics, which is instance
    normalisation with the layer's affine weight, bias and ``eps``; otherwise batch norm uses
    its running statistics. Plain layers only, so the copy can be traced or exported; its
    output equals :func:`paper_test_mode` with ``dropout=False`` (or ``batch_invariant`` in
    eval mode) up to float rounding. ``net`` itself is not changed.
    """
    frozen = copy.deepcopy(net).eval()
    if image_statistics:
        _replace(frozen, lambda m: _ImageStatsBatchNorm(m) if isinstance(m, BATCH_NORMS) else None)
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen


@contextmanager
def batch_invariant(net: nn.Module) -> Iterator[nn.Module]:
    """Make ``net``'s CPU convolutions give each image the result it gets alone.

    Inside the block, a CPU ``Conv2d`` or ``ConvTranspose2d`` layer runs on the whole batch
    where a probe has shown that to give every image its result alone (see the module doc),
    and image by image elsewhere. Other devices are unchanged.
    Layers are swapped for stand-ins sharing the original parameters and put back on exit.

    Raises:
        ValueError: ``net`` is itself a convolution.
        RuntimeError: this mode or :func:`paper_test_mode` is already active on ``net``.
    """
    try:
        with _swapped(net, _conv_stand_in, "batch_invariant"):
            yield net
    finally:
        _remember_verdicts()


@contextmanager
def paper_test_mode(
    net: nn.Module, seeds: Sequence[int] | None = None, dropout: bool = True, *,
    convolutions: bool = True,
) -> Iterator[nn.Module]:
    """Run ``net`` the way the pix2pix paper tests, image by image, for the ``with`` block.

    Inside the block every ``nn.BatchNorm2d`` (or ``SyncBatchNorm``) of ``net`` normalises each
    image with that image's own per-channel statistics (its affine weight, bias and ``eps``
    are used; running statistics are neither used nor updated), and every ``nn.Dropout``
    zeroes activations with a mask drawn per image from a ``torch.Generator`` seeded with
    ``seeds[i]`` on the data's device. Convolutions behave as under :func:`batch_invariant`
    (unless ``convolutions`` is False).
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
        convolutions: ``False`` leaves the convolutions as they are, for a caller that makes
            them batch-invariant itself where it wants to (inside :func:`batch_invariant`,
            which this mode then does not refuse) or runs them plain (off the CPU).

    Yields:
        ``net`` itself.

    Raises:
        ValueError: when ``net`` is itself a ``BatchNorm2d``, ``Dropout`` or convolution (it
            cannot be swapped from inside), or a batch's size differs from ``len(seeds)``.
        RuntimeError: when this mode is already active on ``net``, or :func:`batch_invariant`
            is and ``convolutions`` is True.
    """
    stand_in = _paper_stand_in(_ImageStreams(seeds), dropout, convolutions)
    try:
        with _swapped(net, stand_in, "paper_test_mode"):
            yield net
    finally:
        _remember_verdicts()
