"""Scenario validation: good files load, bad files get one clear paragraph and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim import InputError, load_scenario, parse_scenario, scenario_hash
from sim.cli import app
from sim.schema import json_schema

from .helpers import SCENARIOS

TINY = (SCENARIOS / "tiny.yaml").read_text()


def _edit(old: str, new: str) -> str:
    assert old in TINY, old
    return TINY.replace(old, new, 1)


def _line(text: str) -> str:
    """'line N' of the first line of tiny.yaml containing ``text``."""
    return f"line {TINY[: TINY.index(text)].count(chr(10)) + 1}"


# (name, YAML text, fragments the message must contain)
MALFORMED = [
    ("unknown key", _edit("horizon_days: 30", "horizon_dayz: 30"),
     ["horizon_dayz", "unknown field", _line("horizon_days"), "allowed here", "horizon_days"]),
    ("wrong type", _edit("horizon_days: 30", "horizon_days: thirty"),
     ["horizon_days", _line("horizon_days"), "valid number", "'thirty'"]),
    ("negative price", _edit("low: 3.0, high: 10.0", "low: -3.0, high: 10.0"),
     ["workload.streams.0.job.reservation_usd_per_gpu_hour", "> 0", "reference GPU-hour"]),
    ("negative count", _edit("count: 4", "count: -4"), ["providers.0.count", "greater than 0", _line("count: 4")]),
    ("unknown GPU model", _edit("gpu_model: H100_SXM", "gpu_model: H100_PCIE"),
     ["providers.0", "H100_PCIE", "allowed: H100_SXM"]),
    ("unknown kind", _edit("{kind: poisson, rate_per_hour: 0.4}", "{kind: weibull, rate_per_hour: 0.4}"),
     ["workload.streams.0.arrivals", "weibull", "'poisson'", "'diurnal'"]),
    ("invalid YAML", _edit("  - name: rigs", "  - name: rigs\n   bad: [1, 2"), ["not valid YAML", "line"]),
    ("missing section", TINY[: TINY.index("workload:")], ["workload", "required field is missing"]),
    ("top level not a mapping", "- just\n- a list\n", ["top level must be a mapping"]),
    ("unbounded distribution",
     _edit("{kind: uniform, low: 0.12, high: 0.20}", "{kind: normal, mean: 0.15, sd: 0.05}"),
     ["providers.1.electricity_usd_per_kwh", ">= 0", "low: and high:"]),
    ("unknown price set", _edit("price_set: aws_2025_post_cut", "price_set: gcp_2025"),
     ["cloud", "gcp_2025", "aws_2025_pre_cut"]),
    ("duplicate key", _edit("seed: 7", "seed: 7\nseed: 8"),
     ["not valid YAML", f"line {int(_line('seed: 7')[5:]) + 1}", 'duplicate key "seed"']),
    ("epoch longer than horizon", _edit("epoch_hours: 24", "epoch_hours: 1000"), ["epoch_hours", "horizon"]),
    ("empty file", "", ["top level must be a mapping"]),
    ("bad weights", _edit("gpus_per_node: {1: 0.25, 2: 0.25, 4: 0.5}", "gpus_per_node: {1: -1, 2: 0.25}"),
     ["providers.1.gpus_per_node", "weights must be >= 0"]),
    ("weights not summing to 1", _edit("{RTX_4090: 0.75, RTX_3090: 0.25}", "{RTX_4090: 0.75, RTX_3090: 0.5}"),
     ["providers.1.gpu_model", "must sum to 1", "1.25", _line("RTX_4090: 0.75")]),
    ("escrow sample without escrow", TINY + "chain: {escrow_sample_share: 0.1}\n",
     ["chain.escrow_sample_share (0.1)", "'uniform_clearing'", "reverse_auction"]),
    ("a stream nothing can serve", _edit("min_gpu_memory_gb: 24", "min_gpu_memory_gb: 200"),
     ["workload.streams.1", "'inference'", "at least 200 GB", "no provider group", "no offer of the alternatives",
      "never run"]),
]


@pytest.mark.parametrize(("name", "text", "fragments"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_scenario_message(name: str, text: str, fragments: list[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message.strip(), "one paragraph"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


@pytest.mark.parametrize(("name", "text", "fragments"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_cli_validate_exits_2_without_traceback(name: str, text: str, fragments: list[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "bad.yaml" in result.output


def test_missing_file_exits_2_in_a_real_process(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "sim", "run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("override", ["providers.9.count=1", "nonsense", "seed.deeper=3", "=3"])
def test_bad_overrides(override: str) -> None:
    with pytest.raises(InputError, match="--set"):
        parse_scenario(TINY, "tiny.yaml", [override])


def test_override_errors_name_the_override() -> None:
    with pytest.raises(InputError, match=r"providers\.0\.count \(set with --set\).*greater than 0"):
        parse_scenario(TINY, "tiny.yaml", ["providers.0.count=-1"])


def test_overrides_apply_and_change_the_hash() -> None:
    base = parse_scenario(TINY)
    changed = parse_scenario(TINY, overrides=["seed=99", "tokenomics.emission.tokens_per_day=0",
                                              "workload.streams.1.job.replicas={1: 0.5, 2: 0.5}"])
    assert changed.seed == 99 and changed.tokenomics.emission.tokens_per_day == 0
    assert changed.workload.streams[1].job.replicas == {1: 0.5, 2: 0.5}
    assert scenario_hash(changed) != scenario_hash(base)
    assert scenario_hash(parse_scenario(TINY)) == scenario_hash(base)


def test_overrides_address_list_items_by_name() -> None:
    by_name = parse_scenario(TINY, overrides=["providers.rigs.count=3", "workload.streams.inference.job.replicas=2"])
    by_index = parse_scenario(TINY, overrides=["providers.1.count=3", "workload.streams.1.job.replicas=2"])
    assert by_name == by_index and by_name.providers[1].count == 3
    with pytest.raises(InputError, match=r"'h200' is not an item of providers.*names \(h100, rigs\)"):
        parse_scenario(TINY, "tiny.yaml", ["providers.h200.count=1"])
    # a bad value set by name is reported at the item it reached, as set with --set
    with pytest.raises(InputError, match=r"providers\.1\.count \(set with --set\)"):
        parse_scenario(TINY, "tiny.yaml", ["providers.rigs.count=-1"])


@pytest.mark.parametrize("name", ["tiny", "baseline", "no_subsidy"])
def test_bundled_scenarios_validate_and_round_trip(name: str) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    again = type(sc).model_validate(json.loads(json.dumps(sc.model_dump(mode="json"))))
    assert again == sc and scenario_hash(again) == scenario_hash(sc)


def test_scenarios_are_frozen(tiny) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match="frozen"):
        tiny.seed = 3


def test_json_schema_documents_every_field() -> None:
    schema = json_schema()
    missing = []
    for name, definition in [("Scenario", schema), *schema["$defs"].items()]:
        for field, spec in definition.get("properties", {}).items():
            if field != "kind" and "description" not in spec:
                missing.append(f"{name}.{field}")
    assert not missing, missing
    assert schema["additionalProperties"] is False


def test_cli_schema_prints_json() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Scenario"
