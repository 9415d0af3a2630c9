"""MAE: masking, shapes, the loss, parity with transformers' ViTMAE, official layouts, FLOPs,
reconstructions, and the app page."""

import re
from pathlib import Path

import pytest
import torch

from course_lib import mae as M
from course_lib.checkpoints import CheckpointError
from course_lib.data.augment import resized_crop
from course_lib.data.rendered import SHAPES_MEAN
from course_lib.evaluate.reconstruction import reconstruct, unnormalize_with_visible
from course_lib.losses import mae_loss
from course_lib.official.mae import OFFICIAL_URLS, load_official_state_dict
from course_lib.patches import patchify
from course_lib.positions import sincos_2d

ROOT = Path(__file__).resolve().parents[1]


def official_layout():
    """{key: shape} of the official MAE ViT-B/16 with its decoder (tests/fixtures/official_keys)."""
    from conftest import read_official_keys

    return read_official_keys("mae_vitb16")


def micro(**kw):
    torch.manual_seed(0)
    return M.mae_vit_micro(**kw).eval()


# -- masking --------------------------------------------------------------------------------------
def test_random_masking_keeps_a_quarter_per_sample():
    x = torch.randn(4, 64, 8)
    vis, mask, ids_restore = M.random_masking(x, 0.75)
    assert vis.shape == (4, 16, 8) and mask.shape == (4, 64)
    assert torch.all(mask.sum(1) == 48)
    assert not torch.equal(mask[0], mask[1])  # every sample gets its own mask
    # the kept tokens are exactly the unmasked ones, in shuffled order
    for b in range(4):
        kept = x[b][mask[b] == 0]
        assert sorted(kept[:, 0].tolist()) == sorted(vis[b][:, 0].tolist())
    # ids_restore inverts the shuffle
    assert torch.equal(torch.sort(ids_restore, 1).values, torch.arange(64).expand(4, -1))


def test_noise_for_mask_reproduces_a_hand_chosen_mask():
    mask = torch.zeros(2, 16)
    mask[0, [1, 5, 7]] = 1
    mask[1, [0, 2, 15]] = 1
    noise, keep = M.noise_for_mask(mask)
    _, got, _ = M.keep_by_noise(torch.randn(2, 16, 4), noise, keep)
    assert keep == 13 and torch.equal(got, mask)
    with pytest.raises(ValueError, match="same number"):
        M.noise_for_mask(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))


# -- model shapes and loss ------------------------------------------------------------------------
def test_forward_shapes_and_loss_on_masked_patches_only():
    model = micro()
    imgs = torch.randn(2, 3, 32, 32)
    loss, pred, mask = model(imgs, mask_ratio=0.75)
    assert pred.shape == (2, 16, 8 * 8 * 3) and mask.shape == (2, 16)
    assert torch.all(mask.sum(1) == 12)
    # the loss ignores visible patches: changing the prediction there changes nothing
    target = patchify(imgs, 8)
    pred2 = pred.clone()
    pred2[mask == 0] += 100.0
    assert torch.allclose(mae_loss(target, pred2, mask), loss)
    # and equals the per-patch mean squared error averaged over removed patches (a loop)
    errs = [((pred[b, i] - target[b, i]) ** 2).mean() for b in range(2) for i in range(16) if mask[b, i]]
    assert torch.allclose(loss, torch.stack(errs).mean(), atol=1e-6)


def test_norm_pix_target_is_per_patch_normalized():
    target = torch.rand(1, 4, 12)
    mask = torch.ones(1, 4)
    t = target[0, 2]
    normed = (t - t.mean()) / (t.var() + 1e-6) ** 0.5
    pred = target.clone()
    pred[0, 2] = normed
    per = mae_loss(target, pred, mask, norm_pix=True)
    assert per > 0  # patches other than 2 are wrong
    pred = torch.stack([(p - p.mean()) / (p.var() + 1e-6) ** 0.5 for p in target[0]])[None]
    assert mae_loss(target, pred, mask, norm_pix=True) < 1e-10


def test_wrong_image_size_is_one_sentence():
    with pytest.raises(ValueError, match="expects 32×32"):
        micro()(torch.randn(1, 3, 64, 64))


def test_decoder_positions_are_fixed_sincos():
    model = micro()
    assert not model.decoder_pos_embed.requires_grad and not model.pos_embed.requires_grad
    assert torch.equal(model.decoder_pos_embed[0], sincos_2d(32, 4, cls_token=True))
    assert torch.equal(model.pos_embed[0], sincos_2d(64, 4, cls_token=True))


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    model = M.mae_vit_micro()
    imgs = torch.rand(8, 3, 32, 32)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    noise = torch.rand(8, 16)
    first = None
    for _ in range(12):
        loss, _, _ = model(imgs, noise=noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first


# -- parity with transformers' ViTMAEForPreTraining -----------------------------------------------
ENCODER_TABLE = {  # ours (official MAE) → transformers, per block; qkv is split into three
    "new": {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.o_proj",
            "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
            "qkv": ("attention.q_proj", "attention.k_proj", "attention.v_proj")},
    "old": {"norm1": "layernorm_before", "norm2": "layernorm_after",
            "attn.proj": "attention.output.dense", "mlp.fc1": "intermediate.dense",
            "mlp.fc2": "output.dense",
            "qkv": ("attention.attention.query", "attention.attention.key", "attention.attention.value")},
}


def to_transformers(ours, hf_keys):
    """Our (official MAE) state dict → transformers' ViTMAEForPreTraining, through one key table."""
    new = any(".layers.0." in k for k in hf_keys)
    table = ENCODER_TABLE["new" if new else "old"]
    enc_layers = "vit.layers" if new else "vit.encoder.layer"
    top = {"cls_token": "vit.embeddings.cls_token", "pos_embed": "vit.embeddings.position_embeddings",
           "patch_embed.proj": "vit.embeddings.patch_embeddings.projection", "norm": "vit.layernorm",
           "mask_token": "decoder.mask_token", "decoder_pos_embed": "decoder.decoder_pos_embed",
           "decoder_embed": "decoder.decoder_embed", "decoder_norm": "decoder.decoder_norm",
           "decoder_pred": "decoder.decoder_pred"}
    out = {}
    for key, value in ours.items():
        m = re.match(r"(decoder_blocks|blocks)\.(\d+)\.(.+)\.(weight|bias)$", key)
        if m:
            stack, i, part, kind = m.groups()
            prefix = f"{enc_layers}.{i}" if stack == "blocks" else f"decoder.decoder_layers.{i}"
            if part == "attn.qkv":
                for name, chunk in zip(table["qkv"], value.chunk(3, dim=0)):
                    out[f"{prefix}.{name}.{kind}"] = chunk
            else:
                out[f"{prefix}.{table[part]}.{kind}"] = value
            continue
        stem, _, kind = key.rpartition(".")
        out[top[stem] + "." + kind if stem in top else top[key]] = value
    return out


@pytest.mark.parametrize("norm_pix", [False, True])
def test_parity_with_transformers_vitmae(norm_pix):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTMAEConfig(
        image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=256, decoder_hidden_size=32, decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2, decoder_intermediate_size=128, layer_norm_eps=1e-6,
        mask_ratio=0.75, norm_pix_loss=norm_pix, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    ref = transformers.ViTMAEForPreTraining(cfg).eval()
    ours = micro(norm_pix_loss=norm_pix)
    with torch.no_grad():  # random, non-trivial weights everywhere (also the fixed tables)
        for p in ours.parameters():
            p.add_(0.05 * torch.randn_like(p))
    converted = to_transformers(ours.state_dict(), ref.state_dict().keys())
    ref.load_state_dict(converted, strict=True)
    imgs, noise = torch.randn(3, 3, 32, 32), torch.rand(3, 16)
    with torch.no_grad():
        out = ref(pixel_values=imgs, noise=noise)
        loss, pred, mask = ours(imgs, mask_ratio=0.75, noise=noise)
    assert torch.equal(mask, out.mask)
    assert torch.allclose(pred, out.logits, atol=1e-5)
    assert torch.allclose(loss, out.loss, atol=1e-5)


def test_our_sincos_table_equals_transformers():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTMAEConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32,
                                    decoder_num_hidden_layers=1, decoder_num_attention_heads=2)
    embeddings = transformers.ViTMAEForPreTraining(cfg).vit.embeddings
    embeddings.patch_embeddings.projection._is_hf_initialized = False  # let it initialize again
    embeddings.initialize_weights()  # writes the official sin-cos table
    table = embeddings.position_embeddings.detach()[0]
    assert torch.allclose(table, sincos_2d(64, 4, cls_token=True), atol=1e-6)


# -- official layouts -----------------------------------------------------------------------------
def meta_model(factory, **kw):
    with torch.device("meta"):
        return factory(**kw)


def test_mae_vit_base_has_the_official_layout():
    ours = {k: tuple(v.shape) for k, v in meta_model(M.mae_vit_base).state_dict().items()}
    assert ours == official_layout()


@pytest.mark.parametrize("factory,dim,depth,p",
                         [(M.mae_vit_large, 1024, 24, 16), (M.mae_vit_huge, 1280, 32, 14)])
def test_large_and_huge_presets(factory, dim, depth, p):
    sd = meta_model(factory).state_dict()
    assert sd["blocks.0.attn.qkv.weight"].shape == (3 * dim, dim)
    assert f"blocks.{depth - 1}.norm1.weight" in sd and f"blocks.{depth}.norm1.weight" not in sd
    assert sd["decoder_blocks.7.attn.qkv.weight"].shape == (1536, 512)
    assert sd["decoder_pred.weight"].shape == (p * p * 3, 512)
    assert sd["decoder_pos_embed"].shape == (1, 1 + (224 // p) ** 2, 512)


def random_official_state_dict():
    torch.manual_seed(0)
    return {k: torch.randn(s) for k, s in official_layout().items()}


@pytest.fixture(scope="module")
def base_model():
    return M.mae_vit_base()


def test_full_official_checkpoint_loads_strictly(base_model):
    sd = random_official_state_dict()
    assert load_official_state_dict(base_model, sd) == []
    assert torch.equal(base_model.decoder_pred.weight, sd["decoder_pred.weight"])


def test_encoder_only_checkpoint_misses_exactly_the_decoder(base_model):
    sd = {k: v for k, v in random_official_state_dict().items() if not M.is_decoder_key(k)}
    missing = load_official_state_dict(base_model, sd)
    decoder = {k for k in official_layout() if k.startswith(("mask_token", "decoder_"))}
    assert set(missing) == decoder and len(decoder) == 4 + 8 * 12 + 4
    assert torch.equal(base_model.blocks[11].mlp.fc2.weight, sd["blocks.11.mlp.fc2.weight"])
    del sd["norm.weight"]
    with pytest.raises(CheckpointError, match="norm.weight"):
        load_official_state_dict(base_model, sd)


def test_official_loaders_are_registered():
    from course_lib.checkpoints import OFFICIAL, resolve

    for name in ("mae_vit_base", "mae_vit_large_visualize"):
        assert callable(resolve(OFFICIAL[name]))
        assert OFFICIAL_URLS[name].startswith("https://dl.fbaipublicfiles.com/mae/")


def test_official_loader_refuses_an_unknown_name_in_one_sentence():
    from course_lib.official.mae import load_official

    with pytest.raises(CheckpointError, match="mae_vit_base"):
        load_official("mae_vit_tiny")


def test_encoder_becomes_a_plain_vit():
    model = micro()
    vit = model.to_vit().eval()
    x = torch.randn(2, 3, 32, 32)
    latent, mask, _ = model.forward_encoder(x, mask_ratio=0.0)
    assert mask.sum() == 0
    # with nothing masked the MAE encoder is the ViT, up to the order of the patch tokens
    full = vit.forward_features(x)
    assert torch.allclose(latent[:, 0], full[:, 0], atol=1e-5)


# -- FLOPs ----------------------------------------------------------------------------------------
def encoder_flops(model, x, ratio):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.forward_encoder(x, mask_ratio=ratio)
    return counter.get_total_flops()


def test_encoder_flops_at_75_percent_are_about_a_quarter():
    torch.manual_seed(0)
    model = M.mae_vit_base(depth=2).eval()  # FLOPs per block are equal: two blocks suffice
    x = torch.randn(1, 3, 224, 224)
    ratio = encoder_flops(model, x, 0.75) / encoder_flops(model, x, 0.0)
    assert 0.22 < ratio < 0.28, ratio


# -- reconstructions ------------------------------------------------------------------------------
def test_reconstruction_panels():
    model = micro()
    images = torch.rand(2, 3, 32, 32)
    rec = reconstruct(model, images, mask_ratio=0.5)
    for panel in (rec.original, rec.masked, rec.reconstruction, rec.pasted):
        assert panel.shape == (2, 3, 32, 32) and panel.min() >= 0 and panel.max() <= 1
    visible = rec.mask[0] == 0
    px = patchify(rec.pasted, 8)[0]
    assert torch.equal(px[visible], patchify(images, 8)[0][visible])
    assert torch.equal(patchify(rec.pasted, 8)[0][~visible], patchify(rec.reconstruction, 8)[0][~visible])
    assert rec.pixel_mse.shape == (2,)


def test_fixed_noise_gives_the_same_masks_every_call():
    from course_lib.evaluate.reconstruction import fixed_noise, reconstruction_errors

    assert torch.equal(fixed_noise(3, 16, seed=1), fixed_noise(3, 16, seed=1))
    assert not torch.equal(fixed_noise(3, 16, seed=1), fixed_noise(3, 16, seed=2))
    model, images = micro(), torch.rand(4, 3, 32, 32)
    first = reconstruction_errors(model, images, 0.5, SHAPES_MEAN, (0.16,) * 3)
    assert first == reconstruction_errors(model, images, 0.5, SHAPES_MEAN, (0.16,) * 3)
    assert set(first) == {"masked_mse", "masked_mse_75", "pixel_mse_75"}


def test_norm_pix_unnormalization_uses_visible_patches_only():
    target = torch.rand(1, 4, 12)
    mask = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    pred = torch.randn(1, 4, 12)
    a = unnormalize_with_visible(pred, target, mask)
    target2 = target.clone()
    target2[0, 2:] = 10 * torch.rand(2, 12)  # change only the removed patches' pixels
    b = unnormalize_with_visible(pred, target2, mask)
    assert torch.equal(a, b)  # the removed patches' statistics never leak into the output


# -- the app page (Streamlit AppTest) -------------------------------------------------------------
PAGE = ROOT / "streamlit_app" / "topics" / "05_mae_reconstructions.py"


def run_page():
    import sys

    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    return at


def test_page_random_mask_shows_four_panels_and_the_mse():
    at = run_page()
    assert not at.exception
    assert at.title[0].value == "MAE reconstructions"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patches removed"] == "48 / 64"
    float(metrics["Masked-pixel MSE"])
    at.slider(key="mae_ratio").set_value(0.5).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Patches removed"] == "32 / 64"


def test_page_masks_patches_chosen_by_hand():
    at = run_page()
    at.toggle(key="mae_by_hand").set_value(True).run()
    assert not at.exception
    assert any("No patch is masked" in i.value for i in at.info)
    at.multiselect(key="mae_typed").set_value([0, 9, 18, 27]).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Patches removed"] == "4 / 64"


# -- the training recipe --------------------------------------------------------------------------
def test_batch_augmentations():
    from course_lib.train.recipes import mae as recipe

    x = torch.rand(4, 3, 16, 16)
    assert torch.allclose(resized_crop(x, x.shape[-1], scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False), x,
                          atol=1e-5)
    for mode in recipe.AUGMENTATIONS:
        y = recipe.augment_batch(x, mode)
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_recipe_trains_evaluates_and_saves_a_loadable_card(tmp_path):
    from course_lib.checkpoints import load_pretrained
    from course_lib.train import fit

    summary = fit("mae", preset="micro", img_size=32, steps=2, batch_size=8, train_size=16,
                  probe_train=24, probe_test=12, out=str(tmp_path), progress=False, threads=1)
    metrics = summary["metrics"]
    for key in ("masked_mse", "pixel_mse_75", "linear_probe", "linear_probe_random_init", "knn_top1"):
        assert key in metrics
    card = summary["card"]
    assert card["model"]["factory"] == "course_lib.mae:mae_vit_micro"
    assert card["input"]["mean"] == list(SHAPES_MEAN)
    model = load_pretrained("final", directory=tmp_path)
    assert isinstance(model, M.MaskedAutoencoderViT) and not model.config.fused_attn


def test_experiment_records_its_runs_their_commands_and_a_figure(tmp_path):
    import json

    from course_lib.experiments import run

    tiny = ["preset=micro", "img_size=32", "steps=2", "batch_size=8", "train_size=16", "probe_train=24",
            "probe_test=12"]
    argv = ["loss_on", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]
    assert run("mae", argv + [f"--set={option}" for option in tiny]) == 0
    result = json.loads((tmp_path / "mae_loss_on.json").read_text())
    assert result["command"] == "python -m course_lib.experiments mae loss_on"
    assert [r["label"] for r in result["runs"]] == ["masked only", "all patches"]
    lossall = result["runs"][1]
    assert "--loss-on all" in lossall["command"]
    assert lossall["command"].endswith(f"--out {tmp_path / 'runs' / 'mae-lossall'}")
    assert result["reproduce"] == [r["command"] for r in result["runs"]]
    assert "linear_probe_random_init" in lossall["metrics"]
    assert (tmp_path / "mae_loss_on.png").stat().st_size > 0


@pytest.mark.browser
@pytest.mark.slow
def test_page_in_chromium_with_a_good_and_a_bad_upload(app_url, browser_page, tmp_path):
    from browser import try_good_and_bad_upload

    try_good_and_bad_upload(browser_page, f"{app_url}/mae_reconstructions", tmp_path, "Patches removed")


# -- the bundled checkpoint -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    from course_lib.checkpoints import card, load_pretrained

    return load_pretrained("mae-vit-shapes"), card("mae-vit-shapes")


def test_bundled_mae_fills_holes_better_than_the_visible_mean(bundled):
    from course_lib.data import ShapesWorld

    model, info = bundled
    world = ShapesWorld(32, img_size=64, split="test")
    images = torch.stack([world[i]["image"] for i in range(32)])  # (32, 3, 64, 64)
    noise = torch.rand(32, 64, generator=torch.Generator().manual_seed(0))
    norm = {"mean": info["input"]["mean"], "std": info["input"]["std"]}
    rec = reconstruct(model, images, 0.75, noise=noise, **norm)
    pixels = patchify(images, 8).reshape(32, 64, 64, 3)  # (B, L, p*p, 3)
    visible = (1 - rec.mask)[:, :, None, None]  # (B, L, 1, 1)
    colour = (pixels * visible).sum((1, 2)) / (visible.sum((1, 2)) * 64)  # (B, 3) mean visible colour
    fill_error = ((pixels - colour[:, None, None]) ** 2).mean((2, 3))  # (B, L)
    fill_mse = (fill_error * rec.mask).sum(1) / rec.mask.sum(1)  # (B,)
    assert rec.pixel_mse.mean() < 0.8 * fill_mse.mean()


def test_bundled_card_is_true(bundled):
    from course_lib.data.rendered import render_shapes

    model, info = bundled
    metrics = info["metrics"]
    assert metrics["linear_probe"] > 1 / 6 and "linear_probe_random_init" in metrics
    cfg = info["config"]
    test = render_shapes(cfg["probe_test"], cfg["img_size"], cfg["data_seed"], "test", cfg["difficulty"])
    images = test.images.float() / 255.0
    noise = torch.rand(len(images), 64, generator=torch.Generator().manual_seed(0))
    norm = {"mean": info["input"]["mean"], "std": info["input"]["std"]}
    rec = reconstruct(model, images, 0.75, noise=noise, **norm)
    assert rec.loss == pytest.approx(metrics["masked_mse_75"], rel=1e-3)


# -- figures --------------------------------------------------------------------------------------
def test_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.viz import mae as V

    rec = reconstruct(micro(), torch.rand(2, 3, 32, 32), 0.5)
    assert [t for t, _ in V.panel_images(rec)] == ["original", "masked", "reconstruction",
                                                  "reconstruction + visible"]
    assert V.panel_images(rec)[0][1].shape == (32, 32, 3)
    metrics = {"pixel_mse_75": 0.01, "linear_probe": 0.3, "linear_probe_random_init": 0.2}
    runs = [{"label": str(r), "mask_ratio": r, "metrics": metrics} for r in (0.5, 0.75)]
    for fig in (V.plot_reconstruction(rec), V.plot_reconstructions_by_ratio({0.5: rec, 0.75: rec}),
                V.plot_mask_ratio_sweep(runs), V.plot_ablation(runs)):
        assert fig.axes
        plt.close(fig)
    picker = V.patch_picker_figure(rec.original[0], 8, masked=[1, 2])
    assert list(picker.data[1].customdata) == list(range(16))
    assert picker.data[1].marker.symbol[1] == "square" and picker.data[1].marker.symbol[0] == "circle-open"
