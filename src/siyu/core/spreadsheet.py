"""Cells a spreadsheet will not run (CSV/formula injection, OWASP): the one rule every CSV Siyu writes
follows (exports, console downloads, rejected rows; siyu.warehouse.exports applies the same rule inside
the query).

The rule: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
apostrophe, which Excel and WPS show as text instead of evaluating. Numbers stay numbers: a cell that is a
number (int, float, Decimal, or a numeric column of a query) is written as it is, and so is a text cell
that is a plain decimal number (`-12.50`, `+86`, `-1.5e3`): a spreadsheet reads it as that number and
nothing runs, so a negative amount stays a negative amount. Anything else that starts with one of those
characters (`-1+2`, `=CMD|"/C calc"!A0`, `@SUM(A1)`, `+86 138…` with a space) is neutralised.

Siyu's importers strip one leading apostrophe from every cell (siyu.ingest.readers.cells, the Taobao
`'138…` guard), so a neutralised file read back in imports the original values.
"""

from __future__ import annotations

import csv
import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A text a spreadsheet reads as a number: optional sign, digits with an optional fraction, optional exponent.
PLAIN_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)


def formula_safe(value):
    """`value` as a cell a spreadsheet will not run (the rule above); anything not text is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class FormulaSafeWriter:
    """csv.writer whose every cell, header included, goes through formula_safe."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([formula_safe(cell) for cell in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def formula_safe_writer(out, **kwargs) -> FormulaSafeWriter:
    """A csv.writer(out, **kwargs) that writes no cell a spreadsheet would run."""
    return FormulaSafeWriter(out, **kwargs)
