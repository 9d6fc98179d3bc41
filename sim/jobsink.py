"""Where a run's job table goes as it is built, a chunk at a time: into memory (a DataFrame on the result),
into a Parquet file one row group a chunk (a ten-million-job table is ~2 GB in memory; streamed, the run
holds one chunk of it), or nowhere (sweeps and replications keep a run's summary and epochs only)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

JobsTo = Path | Literal["memory", "none"]
"""``"memory"``: the table on ``RunResult.jobs``; a path: the table written there as Parquet (the caller's
to choose: the run replaces a file there); ``"none"``: not kept."""


class JobSink:
    """Takes the job table's chunks in job-id order (kept in memory: the table in one piece); ``table()`` is
    the table if kept in memory. Used as a context manager: a run that fails leaves no half-written file."""

    def __init__(self, to: JobsTo) -> None:
        self.to = to
        self._table: pd.DataFrame | None = None
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        if self.to == "memory":
            if self._table is not None:
                raise ValueError("a job table kept in memory comes in one piece (joining pieces would copy it)")
            self._table = chunk
        elif isinstance(self.to, Path):
            if self._writer is None:
                self._schema = pa.Schema.from_pandas(chunk, preserve_index=False)
                # dictionary pages for the categories only: tried on every column (pyarrow's default), the
                # floats' millions of distinct values fall back to plain after the work (2.4x slower, measured)
                categories = [c for c in chunk.columns if isinstance(chunk[c].dtype, pd.CategoricalDtype)]
                self._writer = pq.ParquetWriter(self.to, self._schema, use_dictionary=categories)
            self._writer.write_table(pa.Table.from_pandas(chunk, schema=self._schema, preserve_index=False),
                                     row_group_size=len(chunk) or None)

    def table(self) -> pd.DataFrame | None:
        """The table kept in memory (None when streamed or not kept)."""
        return self._table

    def __enter__(self) -> JobSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._writer is not None:
            self._writer.close()
            if kind is not None and isinstance(self.to, Path):
                self.to.unlink(missing_ok=True)  # the run wrote it; half a table is no table
