"""The benchmark table: one row per figure, each with the machine beside it; saved with the date."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from machine import Machine, load_average, today


@dataclass(frozen=True)
class Row:
    """One figure: what was measured, its value, and its share of the matmul peak if any."""

    measure: str
    value: str
    of_peak: str = ""


@dataclass
class Table:
    """The rows of one benchmark run on one machine."""

    machine: Machine
    precision: str
    clock: str = "wall clock"
    rows: list[Row] = field(default_factory=list)
    loads: list[float] = field(default_factory=lambda: [load_average()])

    def add(self, measure: str, value: str, of_peak: str = "") -> None:
        self.rows.append(Row(measure, value, of_peak))

    def markdown(self) -> str:
        lines = ["| measure | value | of the matmul peak | machine |", "|---|---|---|---|"]
        lines += [f"| {r.measure} | {r.value} | {r.of_peak} | {self.machine.label} |"
                  for r in self.rows]
        return "\n".join(lines)

    def heading(self) -> str:
        m = self.machine
        return (f"{today()}, {m.label}, {m.cores} cores, torch {m.torch}, {self.precision}, "
                f"{self.clock}")

    def load_note(self) -> str:
        loads = ", ".join(f"{load:.2f}" for load in self.loads)
        return (f"1-minute load average during the run (start, between sections, end): {loads} "
                f"(the machine has {self.machine.cores} logical CPUs; above about "
                f"{max(self.machine.cores - 1, 1)} other processes share them).")


def append_results(table: Table, path: Path, command: str) -> None:
    """Add ``table`` to the results file under a heading with the date and the ``command``
    that measured it (the file is created if new)."""
    section = (f"\n## {table.heading()} (`{command}`)\n\n{table.load_note()}\n\n"
               f"{table.markdown()}\n")
    existing = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark results\n"
    path.write_text(existing.rstrip("\n") + "\n" + section, encoding="utf-8")
