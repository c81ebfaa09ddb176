"""Native bf16 detection: the CPU's flags, and environment caps that rule its kernels out."""

from __future__ import annotations

import pytest
import torch

from img2img.nn import cpu_bf16

ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
ZEN3 = "processor\t: 0\nflags\t\t: fpu avx2 fma\n"
SAPPHIRE = "flags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile\n"


@pytest.mark.parametrize(("cpuinfo", "found"), [
    (ZEN4, ["avx512_bf16"]), (ZEN3, []), (SAPPHIRE, ["avx512_bf16", "amx_bf16"]), ("", []),
])
def test_bf16_instructions_from_cpuinfo(cpuinfo: str, found: list[str]) -> None:
    assert cpu_bf16.bf16_instructions(cpuinfo) == found


@pytest.mark.parametrize(("variable", "value", "allowed"), [
    ("ONEDNN_MAX_CPU_ISA", "AVX2", False),
    ("DNNL_MAX_CPU_ISA", "avx512_core", False),
    ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", True),
    ("ONEDNN_MAX_CPU_ISA", "ALL", True),
])
def test_an_isa_cap_below_bf16_rules_it_out(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, allowed: bool
) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(cpu_bf16, "bf16_instructions", lambda: ["avx512_bf16"])
    monkeypatch.setenv(variable, value)
    cpu_bf16.cpu_has_bf16.cache_clear()
    try:
        assert cpu_bf16.cpu_has_bf16() is allowed
    finally:
        cpu_bf16.cpu_has_bf16.cache_clear()


def test_aten_below_avx512_rules_it_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(cpu_bf16, "bf16_instructions", lambda: ["avx512_bf16"])
    cpu_bf16.cpu_has_bf16.cache_clear()
    try:
        assert not cpu_bf16.cpu_has_bf16()
    finally:
        cpu_bf16.cpu_has_bf16.cache_clear()
