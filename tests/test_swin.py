"""Swin: windows and masks against naive loops, official keys, timm parity, the paper's table,
the complexity formulas against the FLOP counter, official loaders offline, and the app page."""

import pytest
import torch
from conftest import ROOT, read_official_keys

from course_lib import swin
from course_lib.attention import Attention
from course_lib.complexity import (
    build_on_meta,
    count_flops,
    count_params,
    flops_on_meta,
    omega_msa,
    omega_wmsa,
)
from course_lib.official import swin as official_swin
from course_lib.official.swin import timm_to_official
from course_lib.swin import (
    PatchMerging,
    SwinTransformerBlock,
    relative_position_index,
    shift_regions,
    shifted_window_mask,
    swin_base,
    swin_large,
    swin_small,
    swin_tiny,
    window_partition,
    window_reverse,
)

timm = pytest.importorskip("timm")


# -- pure helpers against naive loops ------------------------------------------------------------
def test_window_partition_against_loop_and_reverse():
    B, H, W, C, M = 2, 8, 12, 5, 4
    x = torch.randn(B, H, W, C)
    windows = window_partition(x, M)
    assert windows.shape == (B * (H // M) * (W // M), M, M, C)
    n = 0
    for b in range(B):
        for i in range(H // M):
            for j in range(W // M):
                assert torch.equal(windows[n], x[b, i * M:(i + 1) * M, j * M:(j + 1) * M])
                n += 1
    assert torch.equal(window_reverse(windows, M, H, W), x)


def test_relative_position_index_against_loop():
    M = 3
    index = relative_position_index(M)
    assert index.shape == (M * M, M * M)
    for a in range(M * M):
        for b in range(M * M):
            dy, dx = a // M - b // M, a % M - b % M
            assert index[a, b] == (dy + M - 1) * (2 * M - 1) + (dx + M - 1)
    assert index.max() == (2 * M - 1) ** 2 - 1


def test_shift_regions_and_mask():
    H = W = 8
    M, s = 4, 2
    regions = shift_regions(H, W, M, s)
    assert sorted(regions.unique().tolist()) == list(range(9))  # the 3 × 3 regions
    mask = shifted_window_mask(H, W, M, s)
    assert mask.shape == (4, M * M, M * M)
    assert set(mask.unique().tolist()) == {0.0, -100.0}
    assert (mask[0] == 0).all()  # the top-left window holds one region only
    labels = window_partition(regions[None, :, :, None], M).reshape(4, -1)
    for w in range(4):  # −100 exactly between tokens of different regions
        expected = torch.where(labels[w][:, None] == labels[w][None, :], 0.0, -100.0)
        assert torch.equal(mask[w], expected)
    assert len(labels[3].unique()) == 4  # the bottom-right window mixes 4 regions


def test_patch_merging_order():
    """Channels of the merged token are (0,0), (1,0), (0,1), (1,1) neighbours, as official."""
    merge = PatchMerging((2, 2), dim=1)
    torch.nn.init.eye_(merge.reduction.weight)  # keep the first 2 of the 4 concatenated channels
    merge.norm = torch.nn.Identity()
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 4, 1)  # (row, col) → value 2·row + col
    assert merge(x).flatten().tolist() == [0.0, 2.0]  # (0,0) then (1,0)


# -- official layout and timm parity -------------------------------------------------------------
def test_state_dict_equals_official_keys():
    ours = {k: tuple(v.shape) for k, v in build_on_meta(swin_tiny).state_dict().items()}
    assert ours == read_official_keys("ms_swin_t")


def _random_timm(name):
    """A timm Swin with random weights, made larger so bias, mask and norms all matter."""
    model = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():
        for key, p in model.named_parameters():
            if key.endswith("relative_position_bias_table"):
                p.normal_(0, 1.0)
            elif "norm" in key and key.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif key.endswith("bias"):
                p.normal_(0, 0.02)
    return model


def _check_parity(timm_name, ours, size, batch):
    ref = _random_timm(timm_name)
    state = timm_to_official(ref.state_dict(), ours)
    assert set(state) == set(ours.state_dict())
    ours.load_state_dict(state, strict=True)
    ours.eval()
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        feats, ref_feats = ours.forward_features(x), ref.forward_features(x)  # (B, L, C), (B, h, w, C)
        assert torch.allclose(feats, ref_feats.flatten(1, 2), atol=1e-5)
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
    assert count_params(ours) == count_params(ref)


def test_parity_swin_tiny_224():
    _check_parity("swin_tiny_patch4_window7_224", swin_tiny(), 224, batch=1)


@pytest.mark.slow
def test_parity_swin_base_384():
    _check_parity("swin_base_patch4_window12_384", swin_base(img_size=384), 384, batch=1)


def test_shift_matters():
    """Sanity check of the parity test: dropping the shift mask changes the output."""
    torch.manual_seed(0)
    blk = SwinTransformerBlock(32, (8, 8), num_heads=2, window_size=4, shift_size=2).eval()
    torch.nn.init.normal_(blk.attn.relative_position_bias_table)
    x = torch.randn(1, 64, 32)
    with torch.no_grad():
        y = blk(x)
        blk.attn_mask.zero_()
        assert not torch.allclose(blk(x), y, atol=1e-4)


def test_small_images_and_clear_errors():
    model = swin_tiny(img_size=64, window_size=4, num_classes=10, embed_dim=24).eval()  # grids 16, 8, 4, 2
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert model.get_window_attention(torch.randn(1, 3, 64, 64), stage=0, block=1).shape == (16, 3, 16, 16)
    assert model.get_window_attention(torch.randn(1, 3, 64, 64), stage=3, block=1).shape == (1, 24, 4, 4)
    with pytest.raises(ValueError, match="built for 64×64 images"):
        model(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match="multiple of"):
        swin_tiny(img_size=100)
    with pytest.raises(ValueError, match="window"):
        swin_tiny(img_size=224, window_size=5)
    with pytest.raises(ValueError, match="Unknown Swin option"):
        swin_tiny(windw_size=7)


# -- the paper's table ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "factory, size, params_m, gmacs",
    [
        (swin_tiny, 224, 28.29, 4.51),
        (swin_base, 224, 87.77, 15.47),
        (swin_base, 384, 87.90, 47.19),
        (swin_large, 384, 196.74, 104.08),
        (swin_small, 224, 49.61, 8.7),  # Swin paper's 8.7G (no timm figure in our sources)
    ],
)
def test_params_and_flops_match_timm(factory, size, params_m, gmacs):
    params, macs = flops_on_meta(factory, size, img_size=size)
    assert round(params / 1e6, 2) == params_m
    assert abs(macs / 1e9 - gmacs) / gmacs < 0.01


def test_complexity_cli_lists_swin(capsys):
    from course_lib import complexity

    labels = [row[0] for row in complexity.all_rows()]
    assert {"Swin-T@224", "Swin-S@224", "Swin-B@224", "Swin-B@384", "Swin-L@384"} <= set(labels)


# -- Ω(MSA) and Ω(W-MSA) against the FLOP counter -------------------------------------------------
@pytest.mark.parametrize("side", [7, 14, 28])
def test_omega_formulas_against_flop_counter(side):
    C, M = 96, 7
    msa = Attention(C, num_heads=3).eval()
    assert count_flops(msa, torch.randn(1, side * side, C)) == omega_msa(side, side, C)
    blk = SwinTransformerBlock(C, (side, side), num_heads=3, window_size=M, shift_size=M // 2).eval()
    wmsa = WindowMSA(blk)
    assert count_flops(wmsa, torch.randn(1, side * side, C)) == omega_wmsa(side, side, C, M)


class WindowMSA(torch.nn.Module):
    """Just the (shifted) window attention of a block: no norms, no MLP."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block.window_attention(x)


def test_omega_ratio_grows_linearly():
    """Global over window attention: the quadratic term wins as the grid grows."""
    C, M = 96, 7
    ratios = [omega_msa(s, s, C) / omega_wmsa(s, s, C, M) for s in (56, 112, 224)]
    assert ratios[0] < ratios[1] < ratios[2]


# -- official weights, offline -------------------------------------------------------------------
def test_official_loader_offline(tmp_path, monkeypatch):
    """The loader reads Microsoft's {"model": state_dict} file strictly (download faked)."""
    from course_lib import checkpoints

    small = dict(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 1, 1))  # same layout, 1000× fewer weights
    monkeypatch.setitem(swin.PRESETS, "tiny", small)
    reference = swin_tiny()
    path = tmp_path / "swin_tiny_patch4_window7_224.pth"
    torch.save({"model": reference.state_dict()}, path)
    monkeypatch.setattr(checkpoints, "download", lambda url, sha256=None, filename=None: path)
    model = checkpoints.load_pretrained("swin_tiny")
    assert torch.equal(model.head.weight, reference.head.weight)
    for name in official_swin.OFFICIAL_WEIGHTS:
        assert checkpoints.OFFICIAL[name] == "course_lib.official.swin:load_official"
    broken = reference.state_dict()
    broken.pop("layers.0.blocks.1.attn_mask")
    torch.save({"model": broken}, path)
    with pytest.raises(checkpoints.CheckpointError, match="attn_mask"):
        checkpoints.load_pretrained("swin_tiny")


# -- the app page ---------------------------------------------------------------------------------
def test_swin_windows_page(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.syspath_prepend(str(ROOT / "streamlit_app"))  # the page imports `common`
    at = AppTest.from_file(str(ROOT / "streamlit_app" / "topics" / "04_swin_windows.py"), default_timeout=90)
    at.run()
    assert not at.exception and not at.error
    at.select_slider(key="swin_size").set_value(384).run()  # 96 × 96 tokens: M = 12 by default
    assert not at.exception and not at.error
    assert at.select_slider(key="swin_window").value == 12
    at.slider(key="swin_mask_window").set_value(0).run()
    at.slider(key="swin_shift").set_value(0).run()  # W-MSA: no mask, an explanation instead
    assert not at.exception and not at.error
    assert any("no mask" in info.value for info in at.info)


# -- figures --------------------------------------------------------------------------------------
def test_figures_render():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.attention import NonLocalBlock
    from course_lib.viz import swin as vs

    image = torch.rand(3, 64, 64)
    attn = swin.WindowAttention(16, window_size=4, num_heads=2)
    _, nl_map = NonLocalBlock(8)(torch.randn(1, 8, 4, 4), return_attention=True)
    results = {"rows": [{"tokens": t, "vit": {"seconds": t**2, "peak_bytes": t**2},
                         "swin": {"seconds": t, "peak_bytes": t}} for t in (49, 196)],
               "slopes": {k: {"seconds": 1.0, "peak_bytes": 1.0} for k in ("vit", "swin")}}
    figures = [
        vs.plot_windows(image, patch_size=4, window_size=4, shift=2),
        vs.plot_shift_regions(16, 4, 2),
        vs.plot_window_mask(16, 4, 2),
        vs.plot_relative_position_index(4),
        vs.plot_bias_for_query(attn, head=1),
        vs.plot_scaling(results),
        vs.plot_nonlocal_attention(image, nl_map[0], query=5),
    ]
    for fig in figures:
        assert fig.axes
        plt.close(fig)
    chart = vs.cost_chart([7, 14, 28], measured={"rows": [{"tokens": 49, "vit": {"seconds": 1.0},
                                                           "swin": {"seconds": 1.0}}]})
    assert len(chart.data) == 4


# -- the scaling benchmark (its arithmetic, not its speed) ----------------------------------------
def test_scaling_benchmark_counts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("swin_scaling", ROOT / "benchmarks" / "swin_scaling.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows, slopes = bench.run([7, 14], "cpu", repeats=1, fit_last=2)
    C, depth = bench.C, bench.DEPTH
    for row in rows:
        hw = row["tokens"]
        mlp = 8 * hw * C**2  # two linears C → 4C → C
        assert row["vit"]["macs"] == depth * (row["omega_msa_per_block"] + mlp)
        assert row["swin"]["macs"] == depth * (row["omega_wmsa_per_block"] + mlp)
        assert row["vit"]["peak_bytes"] >= bench.HEADS * hw**2 * 4  # one float32 map at least
    assert slopes["swin"]["macs"] == pytest.approx(1.0)
