"""The machine a benchmark ran on, in words: CPU model, instruction set, threads and load.

Every figure ``make bench`` prints carries this description, so a table pasted anywhere still
says which machine and which kernels produced it.
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

#: environment variables that cap the instruction set of oneDNN, ATen's kernels or MKL
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY",
            "MKL_ENABLE_INSTRUCTIONS")


@dataclass(frozen=True)
class Machine:
    """What a set of figures was measured on.

    Attributes:
        cpu: the CPU model (``AMD EPYC (family 25, model 17)``), or the GPU's name.
        isa: the vector instruction set the kernels use (``AVX512``, ``AVX2 (forced)`` ...).
        threads: torch's intra-op threads, the same for every figure.
        cores: logical CPUs the process may run on.
        torch: torch's version.
        device: ``cpu`` or ``cuda:N``.
    """

    cpu: str
    isa: str
    threads: int
    cores: int
    torch: str
    device: str

    @property
    def label(self) -> str:
        """``CPU, ISA, N threads``: what the table prints beside every figure."""
        if self.device != "cpu":
            return f"{self.cpu} ({self.device})"
        return f"{self.cpu}, {self.isa}, {self.threads} threads"


def cpu_model() -> str:
    """The CPU's model name, with its family and model numbers where the name is generic."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        text = info.read_text(encoding="utf-8", errors="replace")
        fields = dict(re.findall(r"^(model name|cpu family|model)\s*:\s*(.+)$", text, re.M))
        name = fields.get("model name", "").strip()
        if name:
            family, model = fields.get("cpu family"), fields.get("model")
            return f"{name} (family {family}, model {model})" if family and model else name
    return platform.processor() or platform.machine()


def instruction_set() -> str:
    """The vector ISA ATen dispatches to, with any cap set in the environment named."""
    capability = torch.backends.cpu.get_cpu_capability()
    caps = [f"{name}={os.environ[name]}" for name in ISA_CAPS if os.environ.get(name)]
    return f"{capability} (forced: {', '.join(caps)})" if caps else capability


def describe(device: torch.device) -> Machine:
    """The :class:`Machine` for ``device`` as this process sees it now."""
    cpu = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return Machine(cpu, instruction_set(), torch.get_num_threads(), cores or 1,
                   torch.__version__, str(device))


def load_average() -> float:
    """The 1-minute load average (runnable processes), 0 where the OS does not say."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def today() -> str:
    """The local date and time, for the results file."""
    return time.strftime("%Y-%m-%d %H:%M")
