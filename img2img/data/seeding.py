"""Deterministic seed derivation without any global random state."""

from __future__ import annotations

_MASK64 = (1 << 64) - 1
_MASK63 = (1 << 63) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix_seed(*values: int) -> int:
    """Hash integers into a well-spread seed in ``[0, 2**63)``.

    The result depends on every value and on their order, so ``mix_seed(seed, epoch, i)`` gives
    independent-looking streams for neighbouring epochs and positions.
    """
    state = 0x5EED
    for value in values:
        state = _splitmix64(state ^ (int(value) & _MASK64))
    return state & _MASK63
