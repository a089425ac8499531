"""Shared paths and helpers of the Python end-to-end tests (run by scripts/test-python.sh in a
fresh virtual environment holding `machine-dialect==0.1.0a2` and the freshly built wheel)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"

# Corpus rule 9: every program runs with a budget of 100,000,000 instructions.
CORPUS_FUEL = 100_000_000


@dataclass(frozen=True)
class Case:
    """One frontend corpus case: `NAME.md` with its expectations."""

    name: str  # with its folder prefix, e.g. "bench/bench_fib_recursive"
    opt_level: int
    expected_exit: int
    cause: str

    @property
    def md(self) -> Path:
        return CORPUS / f"{self.name}.md"

    @property
    def expected(self) -> bytes:
        return (CORPUS / f"{self.name}.expected").read_bytes()

    @property
    def status(self) -> int:
        return int((CORPUS / f"{self.name}.status").read_text().strip())


def frontend_cases() -> list[Case]:
    """Every MANIFEST.tsv row that has a `.md` source, with the opt level from its notes."""
    cases = []
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if not (CORPUS / f"{row['name']}.md").exists():
                continue
            m = re.search(r"opt=-O(\d)", row["notes"])
            assert m, f"{row['name']}: no opt= in its notes"
            cases.append(Case(row["name"], int(m.group(1)), int(row["expected_exit"]), row["cause"]))
    return cases
