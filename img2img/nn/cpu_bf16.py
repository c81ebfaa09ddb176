"""Whether this CPU computes bf16 natively: the instructions, and kernels allowed to use them.

bf16 arithmetic pays on a CPU with ``avx512_bf16`` (AMD Zen 4, Intel Cooper Lake and later) or
AMX (Intel Sapphire Rapids and later); elsewhere oneDNN and ATen emulate it with fp32
instructions plus conversions, slower than fp32 itself. The instructions only count when the
kernels may use them: ``ATEN_CPU_CAPABILITY`` below AVX-512, or ``ONEDNN_MAX_CPU_ISA`` /
``DNNL_MAX_CPU_ISA`` capped below ``AVX512_CORE_BF16``, rule them out.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import torch

__all__ = ["BF16_FLAGS", "bf16_instructions", "cpu_has_bf16"]

#: the /proc/cpuinfo flags of native bf16 arithmetic
BF16_FLAGS = ("avx512_bf16", "amx_bf16")

#: oneDNN ISA caps that still allow its bf16 kernels (lower case, as the variable is read)
_ONEDNN_BF16_ISAS = ("avx512_core_bf16", "avx512_core_fp16", "avx512_core_amx",
                     "avx512_core_amx_fp16", "avx10_1_512", "avx10_1_512_amx",
                     "avx10_1_512_amx_fp16", "all")


def bf16_instructions(cpuinfo: str | None = None) -> list[str]:
    """The bf16 flags of :data:`BF16_FLAGS` the CPU has (read from ``/proc/cpuinfo``)."""
    if cpuinfo is None:
        info = Path("/proc/cpuinfo")
        cpuinfo = info.read_text(encoding="utf-8", errors="replace") if info.is_file() else ""
    lines = re.findall(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
    flags = set(lines[0].split()) if lines else set()
    return [flag for flag in BF16_FLAGS if flag in flags]


def _kernels_may_use_bf16() -> bool:
    """Whether no environment cap keeps ATen's and oneDNN's kernels off the bf16 instructions."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        cap = os.environ.get(name)
        if cap and cap.strip().lower() not in _ONEDNN_BF16_ISAS:
            return False
    return True


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether bf16 runs natively here: the CPU has the instructions and the kernels use them."""
    return bool(bf16_instructions()) and _kernels_may_use_bf16()
