"""Suggested tests for the new figure helpers of notebooks 01-03 (not in the repo)."""
import matplotlib
import torch

matplotlib.use("Agg")

from course_lib.complexity import attention_matrix_bytes
from course_lib.positions import sincos_2d
from course_lib.vit import vit_tiny
from course_lib.viz import attention_memory as am
from course_lib.viz import patch_embedding as pe
from course_lib.viz import position_tables as pt


def test_explicit_minus_fused_is_the_attention_matrices_up_to_the_logsumexp():
    row = am.measure_attention_memory([32], vit_tiny, patch_size=4, heads=3, depth=2)[0]
    lse = 2 * 3 * row["tokens"] * 4  # layers · heads · N · 4 B kept by the fused kernel
    assert row["explicit"] - row["fused"] == row["formula"] - lse
    assert row["formula"] == attention_matrix_bytes(65, 3, 2)


def test_spread_keeps_order_and_gap():
    out = am.spread([1.0, 1.1, 0.5], 0.3)
    assert out[2] == 0.5 and out[0] == 1.0 and abs(out[1] - 1.3) < 1e-9


def test_vit_macs_matches_timm_vit_b16():
    assert abs(sum(pe.vit_macs(224, 16, 768, 12)) / 1e9 - 17.56) < 0.02


def test_filter_components_shapes_and_variance():
    comps, explained = pe.filter_components(torch.randn(192, 3, 8, 8), 28)
    assert comps.shape == (28, 3, 8, 8) and explained.shape == (28,) and float(explained.sum()) < 1


def test_dihedral_images_and_relations():
    assert len(pt.dihedral_images(0, 1, 8)) == 8 and len(pt.dihedral_images(3, 3, 8)) == 4
    stats = pt.similarity_by_relation(sincos_2d(192, 8), 8)
    assert stats["same row"] > stats["all pairs"] and abs(stats["same ring"] - stats["all pairs"]) < 0.02


def test_figures_draw():
    am.memory_gib_figure(marks=[("Q", 32, 1)])
    pt.similarity_tiles_figure(torch.rand(4, 4, 4, 4), "t")
    pt.query_similarity_figure({"a": sincos_2d(16, 4)}, 4)
    pe.patch_size_figure()
