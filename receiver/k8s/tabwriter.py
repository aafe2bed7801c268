"""Go's `text/tabwriter` (no flags), which kubectl uses for `rollout history` tables.

Its corners show up in real change-causes: a line without a tab (e.g. the second line of a
change-cause containing a newline) flushes the table, so column widths start over after it; a tab inside
a change-cause starts a new column; `\\v` ends a cell like a tab, `\\f` like a newline that also flushes.
Widths count runes, as Go does.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Cell:
    text: str = ""
    htab: bool = False  # terminated by a tab (not \v)


@dataclass(slots=True)
class TabWriter:
    minwidth: int = 0
    tabwidth: int = 8
    padding: int = 2
    padchar: str = " "
    _out: list[str] = field(default_factory=list)
    _lines: list[list[_Cell]] = field(default_factory=lambda: [[]])
    _cell: str = ""
    _widths: list[int] = field(default_factory=list)

    def write(self, text: str) -> None:
        for char in text:
            if char in "\t\v\n\f":
                line = self._lines[-1]
                line.append(_Cell(self._cell, htab=char == "\t"))
                self._cell = ""
                if char in "\n\f":
                    self._lines.append([])
                    if char == "\f" or len(line) == 1:
                        self._flush_lines()
            else:
                self._cell += char

    def flush(self) -> str:
        if self._cell:
            self._lines[-1].append(_Cell(self._cell))
            self._cell = ""
        self._flush_lines()
        out, self._out = "".join(self._out), []
        return out

    def _flush_lines(self) -> None:
        self._format(0, len(self._lines))
        self._lines = [[]]
        self._widths = []

    def _format(self, line0: int, line1: int) -> None:
        column = len(self._widths)
        this = line0
        while this < line1:
            if column >= len(self._lines[this]) - 1:
                this += 1
                continue
            self._write_lines(line0, this)
            line0 = this
            width = self.minwidth
            while this < line1:
                line = self._lines[this]
                if column >= len(line) - 1:
                    break
                width = max(width, len(line[column].text) + self.padding)
                this += 1
            self._widths.append(width)
            self._format(line0, this)
            self._widths.pop()
            line0 = this
        self._write_lines(line0, line1)

    def _write_lines(self, line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(self._lines[i]):
                self._out.append(cell.text)
                if j < len(self._widths):
                    self._pad(len(cell.text), self._widths[j])
            if i + 1 == len(self._lines):
                self._out.append(self._cell)  # the unterminated rest (only on the very last line)
            else:
                self._out.append("\n")

    def _pad(self, text_width: int, cell_width: int) -> None:
        if self.padchar == "\t":
            if self.tabwidth == 0:
                return
            cell_width = (cell_width + self.tabwidth - 1) // self.tabwidth * self.tabwidth
            self._out.append("\t" * ((cell_width - text_width + self.tabwidth - 1) // self.tabwidth))
            return
        self._out.append(self.padchar * (cell_width - text_width))


def tabbed(text: str) -> str:
    """kubectl's `tabbedString`: `tabwriter.NewWriter(buf, 0, 8, 2, ' ', 0)`, written and flushed."""
    writer = TabWriter()
    writer.write(text)
    return writer.flush()
