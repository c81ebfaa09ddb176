"""The NaN guard: a run stops on the first loss, or weight, that is NaN or infinite.

Checking a loss costs a device synchronisation, so the trainer records each step's losses
(:meth:`LossGuard.add`, a tiny device reduction) and checks them together at the boundaries
where something is logged or saved (:meth:`LossGuard.check`). The networks' weights and buffers
are checked before each checkpoint (:func:`check_weights`): a huge learning rate can send batch
norm's running variance to infinity while every training loss stays finite. With several
data-parallel processes every process checks at the same steps, and all raise together, for
the earliest finding of any of them.
"""

from __future__ import annotations

import torch

from img2img.engine import distributed as ddp


class NonFiniteLossError(ValueError):
    """A loss, or a network's weights, became NaN or infinite; the run stopped without saving
    the broken weights.

    Attributes:
        step: the first step whose losses were not finite (or the step after which the weights
            were found not to be).
        losses: the names of those losses (or of the network tensors, ``"D.model.3.weight"``).
    """

    def __init__(self, message: str, step: int, losses: list[str]) -> None:
        super().__init__(message)
        self.step = step
        self.losses = losses


#: a non-finite finding: the step, the message, the names of the bad losses or tensors
_Finding = tuple[int, str, list[str]]
#: a recorded step: its number, its losses, and whether they were all finite (on the device)
_Step = tuple[int, dict[str, torch.Tensor], torch.Tensor]


def _raise_first(found: _Finding | None, device: torch.device) -> None:
    """Raise :class:`NonFiniteLossError` for the earliest finding of any process (every
    process calls this, and all raise together)."""
    if not ddp.any_rank(found is not None, device):
        return
    step, message, names = min((f for f in ddp.gather_objects(found) if f is not None),
                               key=lambda f: f[0])
    raise NonFiniteLossError(message, step, names)


class LossGuard:
    """Remembers whether each step's losses were finite; :meth:`check` raises on the first not.

    Checking costs a device synchronisation, so steps are only recorded (a tiny device
    reduction each) and checked together before anything is logged or saved.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._pending: list[_Step] = []

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        if not losses:
            return
        values = torch.cat([torch.as_tensor(v).detach().reshape(-1).float()
                            for v in losses.values()])
        self._pending.append((step, losses, torch.isfinite(values).all()))

    def check(self) -> None:
        """Raise :class:`NonFiniteLossError` for the first recorded step with a bad loss (on
        any process; every process calls this at the same steps)."""
        pending, self._pending = self._pending, []
        _raise_first(_first_bad_loss(pending), self.device)


def _first_bad_loss(pending: list[_Step]) -> _Finding | None:
    if not pending:
        return None
    finite = torch.stack([flag for _, _, flag in pending]).cpu()
    if bool(finite.all()):
        return None
    step, losses, _ = pending[int((~finite).nonzero()[0])]
    values = {k: torch.as_tensor(v).detach().float().reshape(-1).cpu() for k, v in losses.items()}
    bad = [k for k, v in values.items() if not bool(torch.isfinite(v).all())]
    shown = ", ".join(f"{k} = {values[k][~torch.isfinite(values[k])][0].item()}" for k in bad)
    return (step, f"step {step}: a loss is not finite ({shown}); training stopped without "
            "saving these weights", bad)


def check_weights(nets: dict[str, torch.nn.Module], step: int, device: torch.device) -> None:
    """Raise :class:`NonFiniteLossError` if a weight or buffer of ``nets`` is NaN or infinite
    (on any process; every process calls this)."""
    names, flags = [], []
    for net_name, net in nets.items():
        for key, tensor in net.state_dict().items():
            if tensor.is_floating_point():
                names.append(f"{net_name}.{key}")
                flags.append(torch.isfinite(tensor).all())
    found = None
    if flags:
        finite = torch.stack(flags).cpu()
        bad = [name for name, ok in zip(names, finite.tolist(), strict=True) if not ok]
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            found = (step, f"step {step}: the weights are not finite ({shown}) although the "
                     "losses were; training stopped without saving these weights", bad)
    _raise_first(found, device)


def with_advice(exc: NonFiniteLossError, saved_step: int | None) -> NonFiniteLossError:
    """``exc`` saying what the run's last checkpoint (written at ``saved_step``, None when
    none was) holds, and what usually helps."""
    kept = (f"the last checkpoint (step {saved_step}) holds the last good weights"
            if saved_step is not None else "no checkpoint was written before it")
    message = f"{exc}; {kept}. A lower --lr, or --precision fp32/bf16, usually helps"
    return NonFiniteLossError(message, exc.step, exc.losses)
