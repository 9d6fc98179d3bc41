"""Where things are: regions as a graph (networkx) with round-trip times and bandwidths.

Inference latency adds the round trip from the buyer's region to where the deployment runs; multi-node
training exchanges gradients over the slowest link between its nodes. Figures live in
``sim/data/regions.yaml`` with their sources. Validating a scenario only needs the region names
(``region_data``); the graph is built the first time a run asks for a path.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict
from ruamel.yaml import YAML

from .catalog import Sourced


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Link(_Strict):
    a: str
    b: str
    rtt_ms: Sourced
    bandwidth_gbps: Sourced


class IntraRegion(_Strict):
    rtt_ms: Sourced
    bandwidth_gbps: Sourced


class Interconnect(_Strict):
    nvlink_gbps_per_gpu: Sourced
    infiniband_gbps_per_gpu: Sourced


class RegionData(_Strict):
    aws_region: str
    regions: tuple[str, ...]
    intra_region: IntraRegion
    links: tuple[Link, ...]
    interconnect: Interconnect


class Topology:
    """Shortest paths by round-trip time; a path's bandwidth is its slowest link."""

    def __init__(self, data: RegionData) -> None:
        import networkx as nx

        self.data = data
        self.graph: Any = nx.Graph()
        self.graph.add_nodes_from(data.regions)
        for link in data.links:
            self.graph.add_edge(link.a, link.b, rtt=link.rtt_ms.value, bandwidth=link.bandwidth_gbps.value)
        self._paths = dict(nx.all_pairs_dijkstra_path(self.graph, weight="rtt"))

    @property
    def regions(self) -> tuple[str, ...]:
        return self.data.regions

    @property
    def aws_region(self) -> str:
        return self.data.aws_region

    def rtt_ms(self, a: str, b: str) -> float:
        if a == b:
            return self.data.intra_region.rtt_ms.value
        path = self._paths[a][b]
        return float(sum(self.graph[u][v]["rtt"] for u, v in pairwise(path)))

    def bandwidth_gbps(self, a: str, b: str) -> float:
        if a == b:
            return self.data.intra_region.bandwidth_gbps.value
        path = self._paths[a][b]
        return float(min(self.graph[u][v]["bandwidth"] for u, v in pairwise(path)))


@cache
def region_data() -> RegionData:
    """The bundled regions file, validated once per process."""
    text = resources.files("sim").joinpath("data", "regions.yaml").read_text(encoding="utf-8")
    data = RegionData.model_validate(YAML(typ="safe").load(text))
    unknown = {link.a for link in data.links} | {link.b for link in data.links} | {data.aws_region}
    if unknown - set(data.regions):
        raise ValueError(f"regions.yaml: links name unknown regions {sorted(unknown - set(data.regions))}")
    return data


@cache
def topology() -> Topology:
    return Topology(region_data())


def check_regions(names: list[str], what: str) -> None:
    known = region_data().regions
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown region(s) {', '.join(unknown)} in {what}; allowed: {', '.join(known)}")
