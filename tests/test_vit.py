"""ViT: parity with timm, official DINO keys, any input size, the papers' tables, attention memory."""

import pytest
import torch
from conftest import read_official_keys

from course_lib import complexity
from course_lib.complexity import (
    attention_matrix_bytes,
    count_flops,
    count_params,
    flops_on_meta,
    tokens_for_image,
)
from course_lib.vit import VisionTransformer, ViTConfig, vit_base, vit_huge, vit_small, vit_tiny

timm = pytest.importorskip("timm")


@pytest.mark.parametrize(
    "timm_name, factory, patch",
    [
        ("vit_small_patch16_224", vit_small, 16),
        ("vit_base_patch16_224", vit_base, 16),
        ("vit_small_patch8_224", vit_small, 8),
    ],
)
def test_parity_with_timm(timm_name, factory, patch):
    ref = timm.create_model(timm_name, pretrained=False).eval()
    ours = factory(patch_size=patch, num_classes=ref.num_classes).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
        assert torch.allclose(ours.forward_features(x), ref.forward_features(x), atol=1e-5)
        ours.set_fused_attn(True)
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
    assert count_params(ours) == count_params(ref)


def test_attention_maps_equal_timm():
    ref = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0).eval()
    ours = vit_small(patch_size=16, num_classes=0).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    captured = []
    for blk in ref.blocks:
        blk.attn.fused_attn = False  # timm's explicit path, whose softmax output goes to attn_drop
        blk.attn.attn_drop.register_forward_hook(lambda m, inp, out: captured.append(inp[0]))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref(x)
        ours_maps = ours.get_selfattention(x)
        last = ours.get_last_selfattention(x)
    assert len(ours_maps) == len(captured) == 12
    for a, b in zip(ours_maps, captured):
        assert a.shape == (1, 6, 197, 197)
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(last, captured[-1], atol=1e-6)


def test_keys_equal_official_dino_vits16():
    official = read_official_keys("dino_vits16")
    ours = {k: tuple(v.shape) for k, v in vit_small(patch_size=16, num_classes=0).state_dict().items()}
    assert ours == official


def test_keys_equal_timm_vitb16_table():
    official = read_official_keys("timm_vitb16")
    with torch.device("meta"):
        ours = {k: tuple(v.shape) for k, v in vit_base(patch_size=16).state_dict().items()}
    assert ours == official


@pytest.mark.parametrize("size", [(64, 64), (96, 160), (480, 480)])
def test_any_multiple_of_patch_size(size):
    model = vit_tiny(patch_size=16, img_size=224, num_classes=0, depth=2).eval()
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        assert model(x).shape == (1, 192)
        attn = model.get_last_selfattention(x)
    n = 1 + (size[0] // 16) * (size[1] // 16)
    assert attn.shape == (1, 3, n, n)


def test_bad_input_messages():
    model = vit_tiny(depth=1)
    with pytest.raises(ValueError, match="not a multiple of the patch size 16"):
        model(torch.randn(1, 3, 100, 100))
    with pytest.raises(ValueError, match="Unknown ViT option"):
        vit_tiny(img_sz=64)
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        VisionTransformer(ViTConfig(img_size=100, patch_size=16))


def test_strict_load_names_missing_and_unexpected_keys():
    from course_lib.checkpoints import load_state_dict_strict

    model = vit_tiny(depth=1, num_classes=0)
    state = model.state_dict()
    state["extra.weight"] = state.pop("norm.weight")
    with pytest.raises(Exception, match=r"norm\.weight") as err:
        load_state_dict_strict(model, state)
    assert "extra.weight" in str(err.value)


# -- the papers' tables -------------------------------------------------------------------------
PUBLISHED = {  # label: (timm params M, timm GMACs)
    "ViT-S/16@224": (22.05, 4.61),
    "ViT-B/16@224": (86.57, 17.58),
    "ViT-B/16@384": (86.86, 55.54),
    "ViT-L/16@384": (304.72, 191.21),
}


@pytest.mark.parametrize("row", [r for r in complexity.TABLE if r[0] in PUBLISHED], ids=lambda r: r[0])
def test_table_params_and_flops_match_timm(row):
    label, params, gmacs, _ = complexity.measure_row(row)
    ref_params, ref_gmacs = PUBLISHED[label]
    assert round(params, 2) == ref_params
    assert abs(gmacs - ref_gmacs) / ref_gmacs < 0.01


def test_params_equal_timm_exactly_on_meta():
    for timm_name, factory, kwargs in [
        ("vit_base_patch16_384", vit_base, dict(img_size=384)),
        ("vit_large_patch16_384", vit_large_factory(), dict(img_size=384)),
        ("vit_huge_patch14_224", vit_huge, dict(num_classes=0)),
    ]:
        with torch.device("meta"):
            ref = timm.create_model(timm_name, pretrained=False)
        params, _ = flops_on_meta(factory, kwargs.get("img_size", 224), **kwargs)
        assert params == count_params(ref), timm_name


def vit_large_factory():
    from course_lib.vit import vit_large

    return vit_large


def test_count_flops_counts_attention_even_when_fused():
    model = vit_tiny(depth=1, num_classes=0, fused_attn=True).eval()
    x = torch.randn(1, 3, 224, 224)
    flops = count_flops(model, x)
    N, D = 197, 192
    expected = (196 * 3 * 256 * D) + N * D * 3 * D + 2 * N * N * D + N * D * D + 2 * N * D * 4 * D
    assert flops == expected
    assert model.blocks[0].attn.fused is True  # switched back afterwards


# -- attention memory ---------------------------------------------------------------------------
def test_attention_matrix_bytes_lecture_numbers():
    pixels_512 = tokens_for_image(512, patch_size=1, cls_token=False)
    assert attention_matrix_bytes(pixels_512, heads=16, layers=48) == 211_106_232_532_992
    assert attention_matrix_bytes(pixels_512, heads=16, layers=48) == 192 * 2**40
    assert attention_matrix_bytes(32 * 32, heads=16, layers=48) == 3 * 2**30
    mib = attention_matrix_bytes(tokens_for_image(224, 16), heads=16, layers=48) / 2**20
    assert round(mib, 1) == 113.7
    with pytest.raises(ValueError, match="tokens"):
        attention_matrix_bytes(-3)


def test_attention_matrix_bytes_equals_what_the_model_materializes():
    model = vit_tiny(patch_size=16, img_size=64, depth=3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps = model.get_selfattention(x)
    materialized = sum(m.numel() * m.element_size() for m in maps)
    assert materialized == attention_matrix_bytes(17, heads=3, layers=3, batch=2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_attention_bytes_against_cuda_allocator():
    """Peak memory of computing one layer's attention maps grows by the predicted bytes.

    The first matrix product on a device allocates cuBLAS's workspace (32 MiB on an H200) through
    PyTorch's allocator: a small warm-up product takes it before the baseline is read. On one
    H200 (2026-11-27) the run without the warm-up kept exactly predicted bytes (rounded up to the
    allocator's 512-byte blocks) + 32 MiB.
    """
    from course_lib.attention import attention_weights

    warm = torch.randn(1, 1, 8, 64, device="cuda")
    attention_weights(warm, warm, 0.125)  # cuBLAS handle and workspace
    torch.cuda.empty_cache()
    q = torch.randn(1, 16, 4097, 64, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    attn = attention_weights(q, q, 0.125)
    torch.cuda.synchronize()
    kept = torch.cuda.memory_allocated() - base
    predicted = attention_matrix_bytes(4097, heads=16)
    assert abs(kept - predicted) / predicted < 0.01
    assert torch.cuda.max_memory_allocated() - base >= predicted
    del attn
