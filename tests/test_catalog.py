"""Catalog data: every figure carries a source and a date, and per-GPU prices follow from them."""

from __future__ import annotations

import pytest

from sim.catalog import CLOUD_PRICE_KINDS, cloud_catalog, gpu_catalog


def test_every_gpu_figure_is_sourced() -> None:
    catalog = gpu_catalog()
    for required in ("H100_SXM", "A100_80GB", "A100_40GB", "L40S", "RTX_4090", "RTX_3090"):
        assert required in catalog.models
    for name, model in catalog.models.items():
        for field, figure in model:
            assert figure.source.strip() and figure.as_of.strip(), f"{name}.{field}"
    assert catalog.models[catalog.reference_model].training_throughput_rel.value == 1.0


def test_aws_per_gpu_prices() -> None:
    sets = cloud_catalog().price_sets
    pre, post = sets["aws_2025_pre_cut"], sets["aws_2025_post_cut"]
    assert {"p5.48xlarge", "p4d.24xlarge", "p4de.24xlarge", "p5en.48xlarge"} <= set(post.offers)
    assert pre.price("p5.48xlarge", "on_demand") == pytest.approx(12.29)      # 98.32 / 8
    assert post.price("p5.48xlarge", "on_demand") == pytest.approx(6.88)      # 55.04 / 8
    assert pre.price("p4d.24xlarge", "on_demand") == pytest.approx(4.0966, abs=1e-4)
    assert post.price("p5.48xlarge", "spot") == pytest.approx((20.99 + 30.68) / 2 / 8)
    assert post.price("p5.48xlarge", "reserved") == pytest.approx(6.88 * (1 - 0.66))
    assert post.price("p5.48xlarge", "capacity_block") == pytest.approx(4.91625)
    assert post.price("p4de.24xlarge", "spot") == pytest.approx((5.84 + 7.81) / 2 / 8)  # spot as observed
    assert post.price("p4de.24xlarge", "capacity_block") != post.price("p4de.24xlarge", "capacity_block")  # NaN
    for kind in CLOUD_PRICE_KINDS:
        assert post.price("p5.48xlarge", kind) > 0
