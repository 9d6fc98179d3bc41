"""Series a scenario gives as a CSV file (a token price, an alternative's price path).

The file is read when the scenario is loaded (relative to the scenario file) and its rows are kept in the
model's ``points``, so a resolved scenario carries its own series and reruns without the file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo


def with_file_points(data: Any, info: ValidationInfo, read: Callable[..., tuple[tuple[float, float], ...]],
                     columns: dict[str, str]) -> Any:
    """The body of a ``mode="before"`` validator: ``data`` with ``points`` read from ``data["file"]``, unless
    points are given. ``columns``: the fields naming the file's columns and their defaults, passed to
    ``read(path, *columns)`` in this order."""
    if not isinstance(data, dict) or data.get("points") or "file" not in data:
        return data
    base = Path((info.context or {}).get("base_dir", "."))
    return {**data, "points": read(base / str(data["file"]), *(data.get(f, d) for f, d in columns.items()))}


def csv_rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file that must have ``columns``; a missing file or column is a ValueError
    naming it."""
    if not path.is_file():
        raise ValueError(f"price file {path} does not exist")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}, line 1: missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
        for row in reader:
            yield reader.line_num, row
