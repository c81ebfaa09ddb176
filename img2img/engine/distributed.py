"""Data-parallel training over processes started by ``torchrun`` (or ``train --devices N``).

Every process holds a full copy of every network and trains on its own share of each epoch.
Gradients are averaged over the processes in the one place every recipe steps an optimizer
(:meth:`img2img.engine.device.Precision.step`), so a recipe's step needs no change: frozen
networks run under autograd, several forwards per backward and any number of optimizers are
all fine. Backend: NCCL on CUDA, gloo on the CPU.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from img2img.config import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")


class FailedOnMain(RuntimeError):
    """Raised by every process but rank 0 when rank 0 failed at something it does for all of
    them (a dataset check, a checkpoint write); rank 0 raises, and reports, the error itself.

    Attributes:
        reason: rank 0's error, as ``"TypeName: message"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"rank 0 stopped: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, writes metrics, samples and checkpoints."""
        return self.rank == 0


def world_from_env(env: dict[str, str] | None = None) -> World:
    """The world ``torchrun`` describes in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``."""
    env = dict(os.environ) if env is None else env
    try:
        size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ConfigError(
            f"RANK/WORLD_SIZE/LOCAL_RANK: expected integers as torchrun sets them ({exc})"
        ) from exc
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"RANK {rank} / WORLD_SIZE {size}: expected 0 <= RANK < WORLD_SIZE")
    return World(rank, size, local)


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` for everything else."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_process_group(world: World, device: torch.device) -> None:
    """Join the process group ``torchrun`` set up (a no-op for one process or when joined)."""
    if not world.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), rank=world.rank, world_size=world.size)
    log.info("process %d of %d joined (%s)", world.rank, world.size, backend_for(device))


def shutdown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Average the gradients of ``optimizer``'s parameters over all processes, in one call.

    Parameters without a gradient are skipped; which ones have none is the same on every
    process, since every process runs the same step.
    """
    if not _active():
        return
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]
    for dtype in dict.fromkeys(g.dtype for g in grads):  # same order on every process
        same = [g for g in grads if g.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in same])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        for grad, part in zip(same, flat.split([g.numel() for g in same]), strict=True):
            grad.copy_(part.view_as(grad))


def _tensors(nets: Iterable[nn.Module], parameters: bool) -> list[Tensor]:
    found: list[Tensor] = []
    for net in nets:
        if parameters:
            found += [p.data for p in net.parameters()]
        found += list(net.buffers())
    return found


def broadcast_from_main(nets: Iterable[nn.Module], parameters: bool = True) -> None:
    """Copy rank 0's parameters (and buffers; only buffers without ``parameters``) to every
    process, one flat broadcast per dtype."""
    if not _active():
        return
    _broadcast(_tensors(nets, parameters))


def _broadcast(tensors: list[Tensor]) -> None:
    for dtype in dict.fromkeys(t.dtype for t in tensors):  # same order on every process
        same = [t for t in tensors if t.dtype == dtype]
        flat = torch.cat([t.reshape(-1) for t in same])
        dist.broadcast(flat, src=0)
        for tensor, part in zip(same, flat.split([t.numel() for t in same]), strict=True):
            tensor.copy_(part.view_as(tensor))


def unsynced_statistics(nets: Iterable[nn.Module]) -> list[Tensor]:
    """The running statistics each process updates from its own batch alone (norm layers with
    running statistics that are not SyncBatchNorm), which drift apart between processes.
    SyncBatchNorm's are computed from every process's batch, so they stay equal; every other
    buffer (filters, constants) is equal from the start and never changes."""
    return [buffer for net in nets for module in net.modules()
            if isinstance(module, nn.modules.batchnorm._NormBase)
            and not isinstance(module, nn.SyncBatchNorm) and module.track_running_stats
            for buffer in module.buffers(recurse=False)]


def follow_main_statistics(nets: Iterable[nn.Module]) -> None:
    """Copy rank 0's :func:`unsynced_statistics` to every process, one flat broadcast per
    dtype (nothing to do where there are none)."""
    if not _active():
        return
    _broadcast(unsynced_statistics(nets))


def sum_over_ranks(values: Tensor) -> Tensor:
    """``values`` summed over all processes (itself for one process)."""
    if not _active():
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values


def any_rank(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true on any process (every process gets the same answer)."""
    if not _active():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather_objects(obj: Any) -> list[Any]:
    """``obj`` from every process, by rank (``[obj]`` for one process)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_main(obj: Any) -> list[Any] | None:
    """``obj`` from every process, by rank, on rank 0 (None elsewhere; ``[obj]`` for one
    process)."""
    if not _active():
        return [obj]
    main = dist.get_rank() == 0
    out: list[Any] | None = [None] * dist.get_world_size() if main else None
    dist.gather_object(obj, out, dst=0)
    if out is not None:
        out[0] = obj  # rank 0's own, not a copy of it
    return out


def on_main(action: Callable[[], T]) -> T:
    """Run ``action`` on rank 0 alone and share its outcome: every process waits for it and
    returns its result, or, when it raised, stops too (rank 0 with the error itself, the others
    with :class:`FailedOnMain`), so no process is left waiting for another.
    """
    if not _active():
        return action()
    if dist.get_rank() != 0:
        done, value = broadcast_object(None)
        if not done:
            raise FailedOnMain(value)
        return value
    try:
        result = action()
    except Exception as exc:
        broadcast_object((False, f"{type(exc).__name__}: {exc}"))
        raise
    broadcast_object((True, result))
    return result


def regroup_epoch(saved: int, size: int, epoch: int, epoch_step: int, batch_size: int,
                  rank_state: dict[str, Any]) -> tuple[int, str]:
    """Where a run ``saved`` processes trained continues on ``size`` processes: the same
    samples of the epoch are done, shared among the new number of processes. Returns the
    step into the epoch to continue at, and a note saying so and what happens to the state of
    the processes gone or new (``rank_state``: rank 0's own state, for its kinds)."""
    done = epoch_step * batch_size * saved
    epoch_step = done // (batch_size * size)
    note = (f"resuming {saved}-process training on {size} processes: {done} samples of epoch "
            f"{epoch} done, continuing at step {epoch_step} of the epoch; "
            + _world_change_note(saved, size, rank_state))
    return epoch_step, note


def _world_change_note(saved: int, size: int, rank_state: dict[str, Any]) -> str:
    """What happens to the per-process state (random streams, and the recipe's own, such as
    image pools) of processes that are gone or new after a change of the process count."""
    kinds = ["random state", *(key.replace("_", " ") for key in rank_state)]
    if size < saved:
        gone = ", ".join(str(r) for r in range(size, saved))
        return (f"the saved {' and '.join(kinds)} of process{'es' if saved - size > 1 else ''}"
                f" {gone} are dropped")
    new = ", ".join(str(r) for r in range(saved, size))
    empty = "".join(f" and empty {kind}" for kind in kinds[1:])
    many = size - saved > 1
    return f"process{'es' if many else ''} {new} start{'' if many else 's'} from fresh seeds{empty}"


def sync_batch_norms(nets: dict[str, nn.Module], device: torch.device) -> list[str]:
    """Batch statistics over all processes: BatchNorm becomes SyncBatchNorm on CUDA.

    On other devices (gloo cannot synchronise them) each process normalises with its own
    batch and the running statistics follow rank 0. Returns notes for the user.
    """
    with_bn = [name for name, net in nets.items()
               if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())]
    if not with_bn:
        return []
    has_sync = any(isinstance(m, nn.SyncBatchNorm) for n in with_bn for m in nets[n].modules())
    if device.type != "cuda":
        if has_sync:
            raise ConfigError(
                f"--norm syncbatch: synchronised batch norm needs CUDA devices, not {device}; "
                "use --norm batch (each process then normalises with its own batch)"
            )
        return [f"batch norm in {', '.join(with_bn)} uses each process's own batch on {device} "
                "(synchronised batch norm needs CUDA); running statistics follow rank 0"]
    for name in with_bn:
        nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(nets[name])
    return [f"batch norm in {', '.join(with_bn)} synchronised over the processes (SyncBatchNorm)"]
