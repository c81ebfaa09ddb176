"""Gradient averaging over data-parallel processes in buckets that overlap the backward pass.

Each optimizer's parameters are split, in reverse registration order (roughly the order the
backward pass finishes them), into buckets of about ``bucket_mb`` megabytes. A hook on every
parameter notes when its gradient is accumulated; once every parameter of bucket ``k`` that
takes part has its gradient, and buckets ``0 .. k-1`` are under way, bucket ``k``'s gradients
are copied into one flat tensor and summed over the processes asynchronously, while the
backward pass goes on. :meth:`GradBuckets.__call__` (``Precision.grad_sync``, called just
before the optimizer steps) starts the buckets not started yet, waits for all of them, and
writes the averages back into the gradients.

The result equals :func:`img2img.engine.distributed.average_gradients` (one flat exchange at
the step): a bucket whose gradients were replaced, removed or changed in place after it was
started (a second backward before the step, clipping, ``zero_grad``) is exchanged again from
the gradients as they are at the step. Every process starts its buckets in the same order, so
the collectives match across processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle


def plan_buckets(params: Sequence[nn.Parameter], bucket_bytes: int) -> list[list[nn.Parameter]]:
    """``params`` in reverse order, split into buckets: a bucket closes once it holds at least
    ``bucket_bytes``, and holds one dtype. Repeated parameters are planned once."""
    if bucket_bytes <= 0:
        raise ValueError(f"bucket_bytes: expected a positive size, got {bucket_bytes}")
    buckets: list[list[nn.Parameter]] = []
    current: list[nn.Parameter] = []
    size = 0
    for param in reversed(list({id(p): p for p in params}.values())):
        if current and param.dtype != current[0].dtype:
            buckets.append(current)
            current, size = [], 0
        current.append(param)
        size += param.numel() * param.element_size()
        if size >= bucket_bytes:
            buckets.append(current)
            current, size = [], 0
    if current:
        buckets.append(current)
    return buckets


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    """``optimizer``'s parameters in registration order (each once)."""
    found = {id(p): p for group in optimizer.param_groups for p in group["params"]}
    return list(found.values())


class _Bucket:
    """Some parameters whose gradients are exchanged as one flat tensor."""

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = params
        self.arrived: set[int] = set()  # ids of the parameters whose gradient arrived
        self._taking_part: int | None = None  # this round's parameters requiring a gradient
        self.work: dist.Work | None = None
        self.flat: Tensor | None = None
        #: (gradient, its version) of each parameter when the exchange started
        self.sent: list[tuple[Tensor | None, int]] = []

    @property
    def complete(self) -> bool:
        """Every parameter that takes part in backward passes (requires a gradient) has one."""
        if self._taking_part is None:
            self._taking_part = sum(p.requires_grad for p in self.params)
        return len(self.arrived) >= self._taking_part

    def start(self) -> None:
        """Start summing the gradients present over the processes (none: nothing to do)."""
        self.sent = [(p.grad, -1 if p.grad is None else p.grad._version) for p in self.params]
        grads = [g for g, _ in self.sent if g is not None]
        if grads:
            self.flat = torch.cat([g.reshape(-1) for g in grads])
            self.work = dist.all_reduce(self.flat, async_op=True)

    @property
    def changed(self) -> bool:
        """Whether a gradient was replaced, removed or changed in place since :meth:`start`."""
        return any(p.grad is not grad or (grad is not None and grad._version != version)
                   for p, (grad, version) in zip(self.params, self.sent, strict=True))

    def finish(self, size: int) -> None:
        """Wait for the sum, and write the average back into the gradients."""
        if self.work is not None:
            self.work.wait()
            assert self.flat is not None
            self.flat /= size
            grads = [g for g, _ in self.sent if g is not None]
            for grad, part in zip(grads, self.flat.split([g.numel() for g in grads]),
                                  strict=True):
                grad.copy_(part.view_as(grad))
        self.reset()

    def reset(self) -> None:
        self.arrived.clear()
        self._taking_part = None
        self.work, self.flat, self.sent = None, None, []


class _Plan:
    """One optimizer's buckets and the hooks that start them during backward."""

    def __init__(self, params: list[nn.Parameter], bucket_bytes: int) -> None:
        self.key = tuple(id(p) for p in params)
        self.buckets = [_Bucket(b) for b in plan_buckets(params, bucket_bytes)]
        self._index = {id(p): i for i, b in enumerate(self.buckets) for p in b.params}
        self.started = 0  # buckets 0 .. started-1 are under way this round
        self.started_in_backward = 0  # buckets started by the hooks, over all rounds
        self.handles: list[RemovableHandle] = [
            p.register_post_accumulate_grad_hook(self._arrived) for p in params]

    def _arrived(self, param: Tensor) -> None:
        index = self._index[id(param)]
        if index < self.started:
            return  # a later backward changed it: the step exchanges it again
        self.buckets[index].arrived.add(id(param))
        while self.started < len(self.buckets) and self.buckets[self.started].complete:
            self.buckets[self.started].start()
            self.started += 1
            self.started_in_backward += 1

    def finish(self, size: int) -> None:
        """Average every bucket's gradients; the same collectives, in the same order, on every
        process (which gradients exist and changed is the same on every process)."""
        stale = [b for b in self.buckets[:self.started] if b.changed]
        for bucket in stale:
            if bucket.work is not None:
                bucket.work.wait()  # its sum is of gradients that are no longer the step's
        for bucket in stale + self.buckets[self.started:]:
            bucket.start()
        for bucket in self.buckets:
            bucket.finish(size)
        self.started = 0

    def remove(self, wait: bool) -> None:
        """Remove the hooks; the exchanges under way are waited for with ``wait`` (every
        process does the same), else left to finish on their own (their sums go unused)."""
        for handle in self.handles:
            handle.remove()
        self.handles = []
        for bucket in self.buckets:
            if wait and bucket.work is not None:
                bucket.work.wait()
            bucket.reset()
        self.started = 0


class GradBuckets:
    """``Precision.grad_sync`` that averages each optimizer's gradients in buckets started
    during the backward pass. An optimizer's buckets are planned at its first step (which
    exchanges them all at once) and again when its parameters change."""

    def __init__(self, bucket_mb: float) -> None:
        if bucket_mb <= 0:
            raise ValueError(f"bucket_mb: expected a positive size, got {bucket_mb}")
        self.bucket_bytes = max(1, round(bucket_mb * 2**20))
        self._plans: dict[int, tuple[torch.optim.Optimizer, _Plan]] = {}

    def __call__(self, optimizer: torch.optim.Optimizer) -> None:
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return
        params = optimizer_params(optimizer)
        known = self._plans.get(id(optimizer))
        if known is None or known[1].key != tuple(id(p) for p in params):
            if known is not None:
                known[1].remove(wait=True)
                del self._plans[id(optimizer)]
            self._forget({id(p) for p in params})
            known = (optimizer, _Plan(params, self.bucket_bytes))
            self._plans[id(optimizer)] = known
        known[1].finish(dist.get_world_size())

    def plans(self) -> Iterable[list[list[nn.Parameter]]]:
        """Each planned optimizer's buckets (parameters), in the order they are exchanged."""
        return [[b.params for b in plan.buckets] for _, plan in self._plans.values()]

    def _forget(self, params: set[int]) -> None:
        """Remove the plans of any optimizer with one of ``params`` (a parameter's gradient is
        exchanged for the one optimizer that stepped it last: a replaced optimizer's plan
        would start exchanges nobody waits for)."""
        for key, (_, plan) in list(self._plans.items()):
            if params.intersection(plan.key):
                plan.remove(wait=True)
                del self._plans[key]

    @property
    def started_in_backward(self) -> int:
        """How many bucket exchanges started during backward passes (not at a step)."""
        return sum(plan.started_in_backward for _, plan in self._plans.values())

    def remove(self) -> None:
        """Remove every hook, when training ends (normally or not: nothing waits for the other
        processes). A later step plans its optimizer's buckets again."""
        for _, plan in self._plans.values():
            plan.remove(wait=False)
        self._plans.clear()

