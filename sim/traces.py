"""Public workload traces: readers with line-numbered errors, and the bundled copies.

Azure LLM inference 2023 (requests: timestamp, context and generated tokens) and the Alibaba openb GPU
cluster 2023 (pods: GPUs, creation and deletion times). Copies ship in ``sim/data/traces`` with their
original READMEs and attribution (ATTRIBUTION.md). A scenario names a bundled trace, or points to a
file of the same format; a file is checked when the scenario is loaded and read again, against its
SHA-256, when the model is built.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

TraceFormat = Literal["azure_llm", "openb_pods"]

BUNDLED: dict[str, tuple[str, TraceFormat]] = {
    "azure_llm_code": ("azure_llm_2023/AzureLLMInferenceTrace_code.csv", "azure_llm"),
    "azure_llm_conv": ("azure_llm_2023/AzureLLMInferenceTrace_conv.csv", "azure_llm"),
    "openb_pods": ("alibaba_openb_2023/openb_pod_list_default.csv", "openb_pods"),
}
COLUMNS: dict[TraceFormat, tuple[str, ...]] = {
    "azure_llm": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "openb_pods": ("num_gpu", "gpu_milli", "creation_time", "deletion_time"),
}


class TraceError(ValueError):
    """A malformed trace file; the message names the file and the line."""


@dataclass(frozen=True)
class Trace:
    """A trace as arrays; times in seconds from the trace's start."""

    format: TraceFormat
    time_s: np.ndarray          # request arrival (azure) or pod creation (openb)
    context_tokens: np.ndarray  # azure only
    generated_tokens: np.ndarray
    gpus: np.ndarray            # openb only: GPUs requested
    gpu_share: np.ndarray       # openb only: share of each GPU used (gpu_milli / 1000; GPU-sharing pods < 1)
    duration_s: np.ndarray
    span_s: float               # length of one pass of the trace

    def __len__(self) -> int:
        return len(self.time_s)


@dataclass(frozen=True)
class RequestLog:
    """One pass of a trace-driven inference stream's requests (arrival hours from the pass start, token
    counts); passes repeat every ``span_hours``, so request i of the run is row i mod len."""

    time_hours: np.ndarray
    context_tokens: np.ndarray
    generated_tokens: np.ndarray
    span_hours: float

    def window(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` requests from row ``start`` on, wrapping into the next pass: (seconds from the first,
        context tokens, generated tokens)."""
        idx = np.arange(start, start + count)
        hours = self.time_hours[idx % len(self.time_hours)] + (idx // len(self.time_hours)) * self.span_hours
        return ((hours - hours[0]) * 3600.0, self.context_tokens[idx % len(self.time_hours)],
                self.generated_tokens[idx % len(self.time_hours)])


def parse_trace(text: str, fmt: TraceFormat, source: str) -> Trace:
    """Parse a trace; every problem is a TraceError naming ``source`` and the line (pandas is imported
    here: validating a scenario without a trace file never needs it)."""
    import pandas as pd

    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS[fmt] if c not in (reader.fieldnames or [])]
    if missing:
        raise TraceError(f"{source}, line 1: missing column(s) {', '.join(missing)}; "
                         f"a {fmt} trace has {', '.join(COLUMNS[fmt])}")
    rows = list(reader)
    if not rows:
        raise TraceError(f"{source}: the trace has no rows")
    frame = pd.DataFrame(rows, columns=list(COLUMNS[fmt]))
    line = np.arange(2, len(rows) + 2)  # header is line 1

    def numbers(column: str) -> np.ndarray:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            raise TraceError(f"{source}, line {line[bad[0]]}: {column} must be a number >= 0, "
                             f"got {frame[column].iloc[bad[0]]!r}")
        return values

    if fmt == "azure_llm":
        stamps = pd.to_datetime(frame["TIMESTAMP"], errors="coerce", format="ISO8601")
        bad = np.flatnonzero(stamps.isna().to_numpy())
        if bad.size:
            raise TraceError(f"{source}, line {line[bad[0]]}: TIMESTAMP {frame['TIMESTAMP'].iloc[bad[0]]!r} "
                             "is not a date-time (expected e.g. 2023-11-16 18:15:46.6805900)")
        seconds = (stamps - stamps.min()).dt.total_seconds().to_numpy()
        order = np.argsort(seconds, kind="stable")
        context, generated = numbers("ContextTokens"), numbers("GeneratedTokens")
        empty = np.zeros(len(rows))
        return Trace(fmt, seconds[order], context[order], generated[order], empty, empty, empty,
                     span_s=float(seconds.max()) + 1.0)
    created, deleted = numbers("creation_time"), numbers("deletion_time")
    gpus, milli = numbers("num_gpu"), numbers("gpu_milli")
    if (gpus != np.round(gpus)).any():
        bad = int(np.flatnonzero(gpus != np.round(gpus))[0])
        raise TraceError(f"{source}, line {line[bad]}: num_gpu must be a whole number")
    keep = (gpus > 0) & (deleted > created)  # GPU pods that ran for some time
    order = np.argsort(created[keep], kind="stable")
    start = created[keep][order]
    empty = np.zeros(len(start))
    share = np.clip(milli[keep][order] / 1000.0, 0.0, 1.0)
    return Trace(fmt, start - created.min(), empty, empty, gpus[keep][order], share,
                 (deleted - created)[keep][order], span_s=float(created.max() - created.min()) + 1.0)


@cache
def bundled_trace(name: str) -> Trace:
    rel, fmt = BUNDLED[name]
    text = resources.files("sim").joinpath("data", "traces", rel).read_text(encoding="utf-8")
    return parse_trace(text, fmt, f"sim/data/traces/{rel}")


def file_trace(path: str | Path, fmt: TraceFormat) -> tuple[Trace, str]:
    """A trace file and its SHA-256."""
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"trace file {p} does not exist")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError(f"trace file {p} is not UTF-8 text") from None
    return parse_trace(text, fmt, str(p)), hashlib.sha256(data).hexdigest()
