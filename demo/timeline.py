"""The incident timeline: printed as it happens and rendered as a Markdown report afterwards."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    step: str
    evidence: str  # verbatim output (kubectl, metrics, API answers); may be empty


@dataclass
class Timeline:
    title: str
    clock: Callable[[], datetime] = datetime.now
    out: TextIO = field(default_factory=lambda: sys.stdout)
    entries: list[Entry] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)  # preamble (level, text): timings, paths

    def __post_init__(self) -> None:
        self.started = self.clock()

    def note(self, text: str, level: int = 0) -> None:
        self.notes.append((level, text))
        print(f"{'  ' * (level + 1)}{text}", file=self.out, flush=True)

    def step(self, step: str, evidence: str = "") -> Entry:
        entry = Entry(self.clock(), step, evidence.rstrip())
        self.entries.append(entry)
        print(f"\n{self._stamp(entry)}  {step}", file=self.out, flush=True)
        for line in entry.evidence.splitlines():
            print(f"    {line}", file=self.out, flush=True)
        return entry

    def _stamp(self, entry: Entry) -> str:
        elapsed = int((entry.at - self.started).total_seconds())
        return f"{entry.at:%H:%M:%S} (+{elapsed // 60:02d}:{elapsed % 60:02d})"

    def markdown(self, outcome: str) -> str:
        lines = [f"# {self.title}", "", f"Started {self.started:%Y-%m-%d %H:%M:%S %Z}".rstrip(), ""]
        if self.notes:
            lines += [f"{'  ' * level}- {text}" for level, text in self.notes] + [""]
        lines += ["## Timeline", ""]
        for entry in self.entries:
            lines += [f"### {self._stamp(entry)} — {entry.step}", ""]
            if entry.evidence:
                lines += ["```", entry.evidence, "```", ""]
        lines += ["## Outcome", "", outcome, ""]
        return "\n".join(lines)

    def write(self, path: Path, outcome: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown(outcome), encoding="utf-8")
        return path
