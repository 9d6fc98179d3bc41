"""The scenario schema: pure, validated, frozen descriptions of a run, with the pure methods that go with
them (asks, arrival times, cumulative emission, price paths). It imports nothing of the model that
runs a scenario: dependencies run schema <- model <- outputs.
"""

from .core import Registry
from .scenario import SCHEMA_VERSION, Scenario, json_schema, scenario_hash, without_rewards

__all__ = ["SCHEMA_VERSION", "Registry", "Scenario", "json_schema", "scenario_hash", "without_rewards"]
