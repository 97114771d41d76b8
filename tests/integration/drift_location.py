"""A code location for the closed-loop daemon test: the shipped definitions built from a test's spec.

`dagster dev` loads it like `platform_assets.definitions`, through `build_definitions`; only the spec (a YAML file
named by MLPLATFORM_TEST_SPEC, the shipped example with short intervals and a small reference window) and the
synthetic feed (MLPLATFORM_TEST_SHIFT: the day a sudden shift starts) differ.
"""

import os

import dagster as dg

from platform_assets.definitions import build_definitions, default_resources
from platform_assets.spec import load_spec
from resources.source import DataSourceResource, ScenarioConfig


@dg.definitions
def defs() -> dg.Definitions:
    spec = load_spec(os.environ["MLPLATFORM_TEST_SPEC"])
    source = DataSourceResource(
        today="2026-03-01",
        rows_per_day=int(os.environ.get("MLPLATFORM_TEST_ROWS", "1200")),
        scenarios=[ScenarioConfig(kind="sudden_shift", start=os.environ["MLPLATFORM_TEST_SHIFT"])],
    )
    return build_definitions([spec], {**default_resources(), "source": source})
