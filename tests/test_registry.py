"""Every registered kind of every mechanism family runs: tiny.yaml with each member's documented example in
its place. A family or a kind added without a place here or an example fails this test."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run
from sim.schema import Registry, Scenario
from sim.traces import BUNDLED

from .helpers import scenario_dict, with_changes

# where each family's member sits in a scenario
PLACES = {
    "arrival process": "workload.streams.0.arrivals",
    "job kind": "workload.streams.0.job",
    "trace job kind": "workload.streams.0",  # inside a trace stream of the member's format
    "stream": "workload.streams.0",
    "ask policy": "providers.0.ask_policy",
    "market mechanism": "market",
    "emission schedule": "tokenomics.emission",
    "token price model": "tokenomics.token_price",
    "reward rule": "tokenomics.reward_rule",
    "distribution": "providers.0.other_opex_usd_per_gpu_hour",
    "price path": "cloud.alternatives",  # as the path of AWS, the one alternative
    "resource": "providers.0",  # a provider group (storage ones join tiny's GPU groups, see _storage)
    "shock": "shocks",  # the one shock, in month 0.1 of the ten days
}
FAMILIES = {r.family: r for r in Registry.every}
CASES = [(r.family, kind, i, example) for r in Registry.every for kind in r.kinds
         for i, example in enumerate(r.examples(kind))]


def test_every_family_has_a_place() -> None:
    assert set(PLACES) == set(FAMILIES)


def _storage(family: str, kind: str) -> bool:
    """Whether the member rents or offers storage (it then needs storage nodes, or deals, and S3)."""
    return (family, kind) in {("resource", "storage"), ("job kind", "storage_deal")}


def _placed(family: str, kind: str, example: dict[str, Any]) -> Any:
    if family == "price path":
        return [{"venue": "aws", "path": example}]
    if family == "shock":
        return [{**example, "month": 0.1}]
    if family != "trace job kind":
        return example
    fmt = FAMILIES[family][kind].trace_format  # type: ignore[attr-defined]
    trace = next(name for name, (_, f) in BUNDLED.items() if f == fmt)
    return {"kind": "trace", "name": "replayed", "trace": trace, "job": example}


@pytest.mark.parametrize(("family", "kind", "i", "example"), CASES,
                         ids=[f"{f}:{k}:{i}" for f, k, i, _ in CASES])
def test_every_kind_runs(family: str, kind: str, i: int, example: dict[str, Any]) -> None:
    assert example.get(FAMILIES[family].key, FAMILIES[family].default) == kind
    base = scenario_dict("tiny")
    changes = {PLACES[family]: _placed(family, kind, example)}
    if _storage(family, kind):  # a storage kind: tiny's GPU groups and a storage group, AWS and S3
        group = example if family == "resource" else FAMILIES["resource"].examples("storage")[0]
        changes = {"providers": [*base["providers"], group],
                   "cloud.alternatives": [{"venue": "aws"}, {"venue": "aws_s3", "offers": ["s3_standard"]}]}
        if family != "resource":
            changes[PLACES[family]] = _placed(family, kind, example)
    if (family, kind) == ("shock", "token_unlock"):  # it sells into the run's own market: an AMM
        changes["tokenomics.token_price"] = FAMILIES["token price model"].examples("amm")[0]
    if (family, kind) == ("shock", "competing_network"):  # it acts through providers leaving
        changes["providers.0.exit_after_negative_epochs"] = 2
    sc = with_changes(base, horizon_days=10, **changes)
    assert isinstance(sc, Scenario)
    result = run(sc)  # conservation is checked inside
    assert result.summary["jobs"]["submitted"] > 0
