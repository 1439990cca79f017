"""Text written for spreadsheets: CSV that a spreadsheet opens as data, never as formulas.

Spreadsheets run a CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV injection: ``=HYPERLINK(...)`` links, DDE commands). Every CSV the
project writes for people (an ingest's rejected rows, the CompStat review, a hotspot
evaluation, a data dictionary, an incident export) is made by :func:`spreadsheet_csv` or
through :func:`neutralise_formulas`: text cells neutralised, numbers left numbers, and lines
ended CRLF so a carriage return inside a cell is quoted. Every step writes such files, so this
module sits beside them all, not in one.
"""

from __future__ import annotations

import re

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What pandas' .str accessor takes, less bytes: text columns, possibly mixed with numbers.
_TEXT_KINDS = frozenset({"string", "mixed", "mixed-integer"})
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: Line ending of every CSV written for a spreadsheet: RFC 4180's CRLF. Python's csv writer
#: quotes a cell only for the characters of its line ending, so with "\n" a lone carriage
#: return stays bare, and spreadsheets start a new row there: "'\r=1" would put "=1", a
#: formula, at the start of a row of its own.
CSV_LINE_END = "\r\n"


def neutralise_formulas(frame: pd.DataFrame, *, keep_numbers: bool = False) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with a quote.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are CSV-injection
    vectors. Only text cells are touched, cell by cell: numeric columns (coordinates, counts)
    and numbers inside text columns are left alone, so a negative value stays a number.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not modified.
    keep_numbers : bool, default False
        Also leave text that is a plain number (``-33.97``, ``+27``, ``1e-3``) as it is: a
        spreadsheet reads it as that number, never as a formula. For rows kept as the text
        they were read as (rejected rows), whose coordinates must stay readable numbers.

    Returns
    -------
    pandas.DataFrame
        A copy, same columns and index.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # Few distinct values: neutralise each category once, not every cell.
            safe = {c: _neutral(c, keep_numbers=keep_numbers) for c in values.cat.categories}
            out[column] = values.map(safe).array
        elif pd.api.types.infer_dtype(values, skipna=True) in _TEXT_KINDS:
            # Cells that are not text (numbers in an object column) give NA here: untouched.
            risky = values.str.startswith(_FORMULA_START).fillna(False).to_numpy(dtype=bool)
            if keep_numbers:
                number = values.str.fullmatch(_PLAIN_NUMBER.pattern).fillna(False)
                risky = risky & ~number.to_numpy(dtype=bool)
            # By position, not label: an index may repeat.
            cells = values.to_numpy(dtype=object, copy=True)
            cells[risky] = ["'" + cell for cell in cells[risky]]
            out[column] = pd.array(cells, dtype=values.dtype)
    return out


def spreadsheet_csv(frame: pd.DataFrame, *, keep_numbers: bool = False) -> str:
    """``frame`` as CSV text safe to open in a spreadsheet, without the index.

    Text cells that would run as a formula get a leading apostrophe (see
    :func:`neutralise_formulas`, which ``keep_numbers`` is passed to), and so do headers: a
    rejected row keeps its source file's own column names; lines end in CRLF, so any cell
    holding a line break is quoted.
    """
    plain = neutralise_formulas(frame, keep_numbers=keep_numbers)
    plain.columns = [_neutral(c, keep_numbers=keep_numbers) for c in plain.columns]
    return plain.to_csv(index=False, lineterminator=CSV_LINE_END)


def _neutral(cell: object, *, keep_numbers: bool) -> object:
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_START):
        return cell
    if keep_numbers and _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell
