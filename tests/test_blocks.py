"""Building blocks: attention, patches, positions, MLP/LayerScale/DropPath, the block."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.attention import Attention, attention_weights
from course_lib.blocks import Block, DropPath, LayerScale, SwiGLU, drop_path
from course_lib.patches import PatchEmbed, patchify, unpatchify
from course_lib.positions import (
    embedding_similarity,
    learned_1d,
    resize_grid_table,
    sincos_1d,
    sincos_2d,
)


# -- attention ----------------------------------------------------------------------------------
def test_explicit_and_fused_attention_agree():
    attn = Attention(64, num_heads=4).eval()
    x = torch.randn(3, 17, 64)
    explicit, maps = attn(x, return_attention=True)
    attn.fused = True
    fused = attn(x)
    assert torch.allclose(explicit, fused, atol=1e-6)
    assert maps.shape == (3, 4, 17, 17)
    assert torch.allclose(maps.sum(-1), torch.ones(3, 4, 17), atol=1e-6)


def test_attention_weights_match_naive_loop():
    q, k = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 6, 8)
    got = attention_weights(q, k, 8**-0.5)
    for h in range(2):
        for i in range(5):
            scores = torch.tensor([float(q[0, h, i] @ k[0, h, j]) / 8**0.5 for j in range(6)])
            assert torch.allclose(got[0, h, i], scores.softmax(0), atol=1e-6)


def test_attention_rejects_bad_head_count():
    with pytest.raises(ValueError, match="divisible"):
        Attention(30, num_heads=4)


# -- patches ------------------------------------------------------------------------------------
def test_patchify_unpatchify_are_inverses():
    imgs = torch.randn(2, 3, 32, 48)
    tokens = patchify(imgs, 8)
    assert tokens.shape == (2, 4 * 6, 8 * 8 * 3)
    assert torch.equal(unpatchify(tokens, 8, grid_size=(4, 6)), imgs)


def test_patchify_order_is_row_column_channel():
    imgs = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    tokens = patchify(imgs, 2)  # (2, 4, 12)
    # token 1 is the patch at grid row 0, column 1; its values run over (row, col, channel)
    expected = torch.stack([imgs[0, c, r, 2 + s] for r in range(2) for s in range(2) for c in range(3)])
    assert torch.equal(tokens[0, 1], expected)


def test_patch_embed_equals_linear_on_flattened_patches():
    embed = PatchEmbed(patch_size=4, in_chans=3, embed_dim=10)
    x = torch.randn(2, 3, 16, 16)
    # the conv kernel (D, C, p, p) reordered to the (row, col, channel) order of patchify
    weight = embed.proj.weight.permute(0, 2, 3, 1).reshape(10, -1)  # (D, p*p*C)
    linear = F.linear(patchify(x, 4), weight, embed.proj.bias)
    assert torch.allclose(embed(x), linear, atol=1e-5)


def test_patch_size_that_does_not_divide_gives_one_sentence():
    with pytest.raises(ValueError, match="not a multiple of the patch size 16"):
        patchify(torch.zeros(1, 3, 50, 50), 16)


# -- positions ----------------------------------------------------------------------------------
def official_mae_table(embed_dim, grid):
    """Independent numpy construction following the official MAE recipe: meshgrid(w, h), the
    first half of the channels computed from grid[0] (the column coordinate)."""
    gw, gh = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64))
    omega = 1.0 / 10000 ** (np.arange(embed_dim // 4) / (embed_dim / 4.0))

    def one_d(pos):
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_d(gw), one_d(gh)], axis=1)


def test_sincos_2d_equals_official_mae_table():
    ours = sincos_2d(64, 7, cls_token=True)
    assert ours.shape == (50, 64)
    assert torch.equal(ours[0], torch.zeros(64))
    assert np.allclose(ours[1:].numpy(), official_mae_table(64, 7), atol=1e-6)


def test_sincos_2d_first_half_encodes_the_column():
    table = sincos_2d(16, 4)  # row-major: index 1 = (row 0, col 1), index 4 = (row 1, col 0)
    assert torch.equal(table[0, 8:], table[1, 8:])  # same row → same second half
    assert torch.equal(table[0, :8], table[4, :8])  # same column → same first half
    assert not torch.equal(table[0, :8], table[1, :8])


def test_transformers_table_is_ours_with_halves_swapped():
    """transformers' ViTMAE builds [row | column]; the official MAE table is [column | row]."""
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding

    hf = build_2d_sinusoidal_position_embedding(5, 5, embed_dim=32)
    ours = sincos_2d(32, 5)
    assert torch.allclose(ours, torch.cat([hf[:, 16:], hf[:, :16]], dim=1), atol=1e-6)


def test_sincos_1d_values():
    table = sincos_1d(4, torch.tensor([0.0, 1.0]))
    assert torch.allclose(table[0], torch.tensor([0.0, 0.0, 1.0, 1.0]))
    expected = torch.tensor([np.sin(1.0), np.sin(0.01), np.cos(1.0), np.cos(0.01)], dtype=torch.float32)
    assert torch.allclose(table[1], expected, atol=1e-6)


def test_resize_grid_table_keeps_cls_and_is_exact_for_constant_tables():
    table = torch.cat([torch.full((1, 1, 8), 7.0), torch.ones(1, 16, 8)], dim=1)
    resized = resize_grid_table(table, (6, 3))
    assert resized.shape == (1, 1 + 18, 8)
    assert torch.equal(resized[:, 0], table[:, 0])
    assert torch.allclose(resized[:, 1:], torch.ones(1, 18, 8), atol=1e-6)
    assert resize_grid_table(table, (4, 4)) is table


def test_learned_table_and_similarity():
    table = learned_1d(10, 8)
    assert table.shape == (1, 10, 8) and table.requires_grad
    sim = embedding_similarity(sincos_2d(32, 3), (3, 3))
    assert sim.shape == (3, 3, 3, 3)
    assert torch.allclose(torch.einsum("ijij->ij", sim), torch.ones(3, 3), atol=1e-5)


# -- block pieces -------------------------------------------------------------------------------
def test_layerscale_and_droppath():
    ls = LayerScale(4, init_values=1e-5)
    assert torch.allclose(ls(torch.ones(2, 4)), torch.full((2, 4), 1e-5))
    x = torch.ones(1000, 3)
    assert torch.equal(DropPath(0.5).eval()(x), x)
    out = drop_path(x, 0.5, training=True)
    kept = out[:, 0] != 0
    assert torch.all((out[kept] == 2.0)) and 400 < kept.sum() < 600  # whole rows, rescaled


def test_swiglu_shapes_and_block():
    assert SwiGLU(16, 24)(torch.randn(2, 5, 16)).shape == (2, 5, 16)
    block = Block(32, 4, init_values=1e-5, ffn="swiglu").eval()
    x = torch.randn(2, 5, 32)
    y, attn = block(x, return_attention=True)
    assert y.shape == x.shape and attn.shape == (2, 4, 5, 5)
    assert torch.allclose(y, x, atol=1e-3)  # LayerScale 1e-5: the block starts near identity
    with pytest.raises(ValueError, match="Unknown ffn"):
        Block(32, 4, ffn="relu")
