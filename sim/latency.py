"""Request latency of inference deployments: their trace requests through a FCFS queue on the venue.

For each deployment that served a request log (trace-driven inference), the first requests of its
window (up to ``SAMPLE``) are queued on its GPUs (one request at a time per GPU; batching is in the
throughput figures), with service times for the GPU model it ran on, plus the round trip from the
buyers' region to where it ran. That gives the deployment's p50/p99 latency and SLO attainment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .catalog import gpu_catalog
from .jobs import JobBatch
from .queueing import fcfs_waits
from .topology import topology

SAMPLE = 2000  # requests simulated per deployment


def deployment_latency(batch: JobBatch, provider_region: np.ndarray, jobs: pd.DataFrame,
                       lo: int = 0) -> dict[str, np.ndarray]:
    """Per job of the job table ``jobs`` (a chunk of it whose row i is job lo + i), columns to add to it:
    latency_p50_ms, latency_p99_ms, slo_attainment (NaN where no requests were served); ``provider_region``:
    each provider's region."""
    n = len(jobs)
    out = {name: np.full(n, np.nan) for name in ("latency_p50_ms", "latency_p99_ms", "slo_attainment")}
    catalog, topo = gpu_catalog(), topology()
    replayed = batch.request_start[lo:lo + n] >= 0  # this chunk's jobs only, not the whole run's per chunk
    if not replayed.any():
        return out
    served = replayed & jobs["venue"].isin(["network", "cloud"]).to_numpy()
    venue = jobs["venue"].to_numpy()
    provider = jobs["provider_id"].to_numpy()
    gpu_class = jobs["gpu_class"].astype(str).to_numpy()
    gpus = jobs["gpus"].to_numpy()
    for j in np.flatnonzero(served).tolist():
        b = lo + j  # the job in the batch
        log = batch.request_logs[int(batch.stream[b])]
        count = min(int(batch.request_end[b] - batch.request_start[b]), SAMPLE)
        if count <= 0:
            continue
        arrivals, context, generated = log.window(int(batch.request_start[b]), count)
        service = catalog.service_seconds(gpu_class[j], context, generated)
        where = provider_region[provider[j]] if venue[j] == "network" else topo.aws_region
        rtt = topo.rtt_ms(batch.regions[batch.region[b]], str(where)) / 1000.0
        latency = fcfs_waits(arrivals, service, int(gpus[j])) + service + rtt
        p50, p99 = np.percentile(latency, [50, 99])
        out["latency_p50_ms"][j] = p50 * 1000.0
        out["latency_p99_ms"][j] = p99 * 1000.0
        out["slo_attainment"][j] = float(np.mean(latency * 1000.0 <= batch.stream_latency_slo_ms[batch.stream[b]]))
    return out


def latency_summary(jobs: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Per stream and venue: median of deployments' p50 and p99 latency, mean SLO attainment."""
    measured = jobs.dropna(subset=["slo_attainment"])
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for (stream, venue), g in measured.groupby(["stream", "venue"], observed=True):
        summary.setdefault(str(stream), {})[str(venue)] = {
            "deployments": int(len(g)),
            "p50_ms": float(g["latency_p50_ms"].median()),
            "p99_ms": float(g["latency_p99_ms"].median()),
            "slo_attainment": float(g["slo_attainment"].mean()),
        }
    return summary
