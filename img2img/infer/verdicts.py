"""Batch-invariance verdicts remembered on disk, per machine and library build.

Whether a CPU convolution gives each image of a batch its result alone is a property of the
kernels that run (:mod:`img2img.infer.stochastic`), and the kernels are fixed by the libraries'
build, the CPU (instruction set, cache sizes), the environment variables that cap the
instruction set, the thread count and the shapes. The probe that finds the answer runs the
layer on the whole batch and then image by image, so a new batch shape's first batch takes
several times as long as later ones (4-5x for ``unet_256`` at batch 8 on one CPU thread). This
module keeps the answers in a small JSON file per :func:`fingerprint` so that later processes on
the same machine and build skip the probes.

The file lives in ``$IMG2IMG_CACHE_DIR`` (``none`` turns the store off), else in
``$XDG_CACHE_HOME/img2img`` or ``~/.cache/img2img``. A missing, unreadable or foreign file is
treated as empty and failures to write are logged, never raised: the store only saves time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from pathlib import Path

import torch

from img2img.atomic import atomic_write

log = logging.getLogger(__name__)

CACHE_ENV = "IMG2IMG_CACHE_DIR"
#: the environment variables that cap an instruction set or change a kernel library's choices
KERNEL_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE",
              "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "MKL_DEBUG_CPU_TYPE")
#: bump when what a verdict means changes (the layers' CPU paths, the probe)
FORMAT_VERSION = 1


def cache_dir() -> Path | None:
    """Where the verdict files go, or None when the store is turned off."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured.lower() == "none":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "img2img"


def _cpu_description() -> str:
    """The CPU's identity, feature flags and cache sizes (kernels block for the caches)."""
    parts = [platform.machine(), platform.processor()]
    info = Path("/proc/cpuinfo")
    if info.is_file():
        first = info.read_text(encoding="utf-8", errors="replace").split("\n\n")[0]
        parts += [line for line in first.splitlines()
                  if line.split(":")[0].strip() in ("vendor_id", "cpu family", "model",
                                                    "model name", "stepping", "flags")]
    caches = Path("/sys/devices/system/cpu/cpu0/cache")
    if caches.is_dir():
        for index in sorted(caches.glob("index*")):
            for name in ("level", "type", "size"):
                file = index / name
                if file.is_file():
                    parts.append(f"{index.name}/{name}={file.read_text().strip()}")
    return "\n".join(parts)


def fingerprint() -> str:
    """A digest of everything besides shapes and threads that picks the CPU kernels."""
    parts = [
        f"format {FORMAT_VERSION}",
        torch.__version__,
        torch.__config__.show(),  # MKL and oneDNN versions, build flags
        torch.backends.cpu.get_cpu_capability(),
        _cpu_description(),
        *(f"{name}={os.environ.get(name, '')}" for name in KERNEL_ENV),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def open_store(current: VerdictStore | None = None) -> VerdictStore:
    """The store for this process's cache folder: ``current`` if it is still the right one."""
    directory = cache_dir()
    if current is not None and current.directory == directory:
        return current
    if current is not None:
        current.flush()
    return VerdictStore(directory, fingerprint())


class VerdictStore:
    """The verdicts of one :func:`fingerprint`, read once and written when new ones came in."""

    def __init__(self, directory: Path | None, digest: str) -> None:
        self.directory = directory
        self.path = None if directory is None else directory / f"batch-invariance-{digest}.json"
        self.verdicts: dict[str, bool] = self._read()
        self.dirty = False

    def _read(self) -> dict[str, bool]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.debug("ignoring unreadable batch-invariance cache %s: %s", self.path, exc)
            return {}
        verdicts = data.get("verdicts") if isinstance(data, dict) else None
        if not isinstance(verdicts, dict):
            return {}
        return {k: v for k, v in verdicts.items() if isinstance(k, str) and isinstance(v, bool)}

    def get(self, key: str) -> bool | None:
        return self.verdicts.get(key)

    def put(self, key: str, verdict: bool) -> None:
        self.verdicts[key] = verdict
        self.dirty = self.path is not None

    def flush(self) -> None:
        """Write the verdicts if new ones came in (merged with what another process wrote)."""
        if not self.dirty or self.path is None:
            return
        merged = {**self._read(), **self.verdicts}
        text = json.dumps({"verdicts": merged}, indent=0, sort_keys=True)
        try:
            atomic_write(self.path, lambda f: f.write(text), mode="w")
        except OSError as exc:
            log.debug("could not write the batch-invariance cache %s: %s", self.path, exc)
        self.dirty = False
