"""What the summary and the conservation checks need of a run's job table, added up a chunk at a time:
neither needs the whole table in memory, so a run can stream its table to a file (ten million jobs are
2 GB of table) and still be summarised and checked."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .tables import STATES

LATENCY_COLUMNS = ["stream", "venue", "latency_p50_ms", "latency_p99_ms", "slo_attainment"]


@dataclass
class JobFigures:
    """Counts and sums over the job table's chunks, in chunk order. Each sum is the chunk's own (as pandas
    adds a column) added to the chunks' before it: the same for a run kept in memory and one streamed,
    since both are cut at ``tables.CHUNK_ROWS``."""

    alternatives: tuple[str, ...]
    rows: int = 0
    states: np.ndarray = field(default_factory=lambda: np.zeros(len(STATES), dtype=np.int64))
    """Jobs in each of ``tables.STATES``."""
    network: int = 0
    cloud: int = 0
    cloud_by_alternative: np.ndarray = field(init=False)
    """Jobs that went to each of ``alternatives``."""
    gpu_hours: dict[str, float] = field(default_factory=lambda: {"network": 0.0, "cloud": 0.0})
    """GPU-hours delivered on each venue."""
    spend: dict[str, float] = field(default_factory=lambda: {"network": 0.0, "cloud": 0.0})
    work: dict[str, float] = field(default_factory=lambda: {"network": 0.0, "served": 0.0})
    """Reference GPU-hours of work of the jobs run on the network, and of all the jobs run anywhere."""
    measured: list[pd.DataFrame] = field(default_factory=list)
    """Of the deployments whose requests were replayed: their stream, venue and latency figures."""

    def __post_init__(self) -> None:
        self.cloud_by_alternative = np.zeros(len(self.alternatives), dtype=np.int64)

    def add(self, chunk: pd.DataFrame) -> None:
        """Count and sum one chunk of the job table (the chunks come in job-id order)."""
        venue = chunk["venue"].cat.codes.to_numpy()  # none, network, cloud
        status = chunk["state"].cat.codes.to_numpy()
        self.rows += len(chunk)
        self.states += np.bincount(status[status >= 0], minlength=len(STATES))
        net, cld = venue == 1, venue == 2
        self.network += int(net.sum())
        self.cloud += int(cld.sum())
        alt = chunk["alternative"].cat.codes.to_numpy()[cld]
        self.cloud_by_alternative += np.bincount(alt[alt >= 0], minlength=len(self.alternatives))
        for name, rows in (("network", net), ("cloud", cld)):
            self.gpu_hours[name] += float(chunk.loc[rows, "delivered_gpu_hours"].sum())
            self.spend[name] += float(chunk.loc[rows, "price_paid_usd"].sum())
        self.work["network"] += float(chunk.loc[net, "work_ref_gpu_hours"].sum())
        self.work["served"] += float(chunk.loc[net | cld, "work_ref_gpu_hours"].sum())
        self.measured.append(chunk.loc[chunk["slo_attainment"].notna(), LATENCY_COLUMNS])

    def count(self, state: str) -> int:
        """Jobs in ``state`` (one of ``tables.STATES``)."""
        return int(self.states[STATES.index(state)])

    def latency(self) -> pd.DataFrame:
        """The replayed deployments' latency rows, in job order."""
        return pd.concat(self.measured, ignore_index=True) if len(self.measured) > 1 else self.measured[0]
