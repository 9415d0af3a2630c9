"""DINO: loss properties, head keys, multi-crop, EMA teacher, DINOv2 options, the
collapse regimes, attention Jaccard, official-weight loading (random weights, offline), the
recipe, and the Attention maps page. The loops that would be the DINO-loss and Jaccard homework
solutions live in the instructor-only tests/instructor/test_dino_loops.py.

Where the names live: the model family in course_lib.dino, the official weights in
course_lib.official.dino, the collapse runs in course_lib.experiments.dino_collapse, the
comparison in course_lib.experiments.dino, attention rows in course_lib.evaluate.attention_maps."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_lib import dino
from course_lib.data.augment import MultiCrop
from course_lib.evaluate import (
    attention_jaccard,
    attention_jaccard_report,
    centred_blob,
    foreground_mass_ratio,
    threshold_attention,
)
from course_lib.evaluate.attention_maps import attention_rows
from course_lib.experiments.dino_collapse import classify_regime, collapse_run, tiny_dino, train_step
from course_lib.losses import dino_loss, koleo_loss
from course_lib.official.dino import load_official, official_url
from course_lib.vit import vit_small, vit_tiny

ROOT = Path(__file__).resolve().parents[1]
KEYS = ROOT / "tests" / "fixtures" / "official_keys"  # copied from the reference layouts
if not KEYS.exists():
    KEYS = Path("/work/shared/reference/official-keys")


def official_layout(name):
    path = KEYS / name
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
    return {k: tuple(int(d) for d in shape.strip("()").split(",") if d.strip()) for k, shape in rows}


# -- the loss ------------------------------------------------------------------------------------
def test_dino_loss_module_centre_and_temperature():
    loss_fn = dino.DINOLoss(
        out_dim=6, n_crops=4, warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_epochs=10
    )
    assert loss_fn.teacher_temp(0) == pytest.approx(0.04)
    assert loss_fn.teacher_temp(5) == pytest.approx(0.055)
    assert loss_fn.teacher_temp(30) == pytest.approx(0.07)
    student, teacher = torch.randn(4 * 3, 6), torch.randn(2 * 3, 6)
    want = dino_loss(student.view(4, 3, 6), teacher.view(2, 3, 6), torch.zeros(6), 0.1, 0.04)
    got = loss_fn(student, teacher, epoch=0)
    assert torch.allclose(got, want, atol=1e-6)
    # centre ← 0.9 c + 0.1 mean(teacher)
    assert torch.allclose(loss_fn.center, 0.1 * teacher.mean(0, keepdim=True), atol=1e-6)
    c = loss_fn.center.clone()
    loss_fn(student, teacher, epoch=0)
    assert torch.allclose(loss_fn.center, 0.9 * c + 0.1 * teacher.mean(0, keepdim=True), atol=1e-6)
    assert "center" in loss_fn.state_dict()


def test_centering_none_and_bad_option():
    loss_fn = dino.DINOLoss(out_dim=5, centering="none")
    loss_fn.center.fill_(3.0)
    s, t = torch.randn(4, 5), torch.randn(2, 5)
    assert torch.allclose(loss_fn(s, t), dino_loss(s.view(4, 1, 5), t.view(2, 1, 5), torch.zeros(5)))
    with pytest.raises(ValueError, match="centering"):
        dino.DINOLoss(centering="median")


def naive_sinkhorn(logits, temp, n_iters):
    B, K = len(logits), len(logits[0])
    Q = [[math.exp(logits[b][k] / temp) for b in range(B)] for k in range(K)]  # (K, B)
    total = sum(map(sum, Q))
    Q = [[v / total for v in row] for row in Q]
    for _ in range(n_iters):
        Q = [[v / (sum(row) * K) for v in row] for row in Q]
        cols = [sum(Q[k][b] for k in range(K)) for b in range(B)]
        Q = [[Q[k][b] / (cols[b] * B) for b in range(B)] for k in range(K)]
    return [[Q[k][b] * B for k in range(K)] for b in range(B)]


def test_sinkhorn_knopp_matches_naive_loop_and_balances():
    logits = torch.randn(6, 4, dtype=torch.float64)
    got = dino.sinkhorn_knopp(logits, temp=0.5, n_iters=3)
    want = torch.tensor(naive_sinkhorn(logits.tolist(), 0.5, 3), dtype=got.dtype)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(got.sum(1), torch.ones(6, dtype=got.dtype), atol=1e-6)  # each sample a distribution
    many = dino.sinkhorn_knopp(torch.rand(64, 8) * 2 - 1, temp=0.1, n_iters=50)  # cosine-like logits
    assert torch.allclose(many.sum(0), torch.full((8,), 64 / 8), rtol=0.05)  # prototypes used equally
    loss_fn = dino.DINOLoss(out_dim=4, centering="sinkhorn", teacher_temp=0.5)
    t = torch.randn(6, 4)
    targets = loss_fn.targets(t, 0)
    assert targets.shape == (2, 3, 4)
    assert torch.allclose(targets.reshape(6, 4), dino.sinkhorn_knopp(t, 0.5), atol=1e-6)


# -- head, multi-crop, teacher -------------------------------------------------------------------
def test_dino_head_keys_match_official_layout():
    want = official_layout("dino_head.txt")
    head = dino.DINOHead(384, 65536, 2048, 256)
    got = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert got == want


def test_dino_head_loads_old_weight_norm_keys_strictly():
    torch.manual_seed(0)
    old = {
        "mlp.0.weight": torch.randn(32, 16),
        "mlp.0.bias": torch.randn(32),
        "mlp.2.weight": torch.randn(32, 32),
        "mlp.2.bias": torch.randn(32),
        "mlp.4.weight": torch.randn(8, 32),
        "mlp.4.bias": torch.randn(8),
        "last_layer.weight_g": torch.rand(50, 1) + 0.5,
        "last_layer.weight_v": torch.randn(50, 8),
    }
    head = dino.DINOHead(16, 50, 32, 8)
    head.load_state_dict(old, strict=True)
    x = torch.randn(3, 16)
    h = F.gelu(x @ old["mlp.0.weight"].T + old["mlp.0.bias"])
    h = F.gelu(h @ old["mlp.2.weight"].T + old["mlp.2.bias"])
    h = F.normalize(h @ old["mlp.4.weight"].T + old["mlp.4.bias"], dim=-1)
    w = (
        old["last_layer.weight_g"]
        * old["last_layer.weight_v"]
        / old["last_layer.weight_v"].norm(dim=1, keepdim=True)
    )
    assert torch.allclose(head(x), h @ w.T, atol=1e-5)
    assert set(head.state_dict()) == set(old)  # saved back under the official names


def test_norm_last_layer_fixes_g():
    frozen = dino.DINOHead(8, 10, 16, 4, norm_last_layer=True)
    free = dino.DINOHead(8, 10, 16, 4, norm_last_layer=False)
    g = "last_layer.parametrizations.weight.original0"
    assert not dict(frozen.named_parameters())[g].requires_grad
    assert dict(free.named_parameters())[g].requires_grad
    out = frozen(torch.randn(5, 8))
    assert out.shape == (5, 10) and out.abs().max() <= 1 + 1e-5  # unit vectors · unit rows


def test_multicrop_wrapper_groups_by_resolution():
    torch.manual_seed(0)
    student = tiny_dino(img_size=32, out_dim=20)
    student.eval()
    crops = [
        torch.randn(2, 3, 32, 32),
        torch.randn(2, 3, 32, 32),
        torch.randn(2, 3, 16, 16),
        torch.randn(2, 3, 16, 16),
        torch.randn(2, 3, 16, 16),
    ]
    out = student(crops)
    assert out.shape == (5 * 2, 20)
    one_by_one = torch.cat([student.head(student.backbone(c)) for c in crops])
    assert torch.allclose(out, one_by_one, atol=1e-5)


def test_teacher_momentum_and_ema_update():
    assert dino.teacher_momentum(0, 100) == pytest.approx(0.996)
    assert dino.teacher_momentum(100, 100) == pytest.approx(1.0)
    assert dino.teacher_momentum(50, 100) == pytest.approx(0.998)
    student = tiny_dino(img_size=16, out_dim=8)
    teacher = dino.make_teacher(student)
    assert not any(p.requires_grad for p in teacher.parameters())
    old = [p.clone() for p in teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    dino.update_teacher(student, teacher, 0.9)
    for p_t, p_old, p_s in zip(teacher.parameters(), old, student.parameters()):
        assert torch.allclose(p_t, 0.9 * p_old + 0.1 * p_s, atol=1e-6)


def test_train_step_leaves_teacher_without_gradient():
    torch.manual_seed(0)
    student = tiny_dino(img_size=16, out_dim=16)
    teacher = dino.make_teacher(student)
    loss_fn = dino.DINOLoss(out_dim=16, n_crops=4)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-3)
    crops = [torch.randn(4, 3, 16, 16)] * 2 + [torch.randn(4, 3, 8, 8)] * 2
    metrics = train_step(student, teacher, loss_fn, opt, crops, koleo_weight=0.1)
    assert all(p.grad is None for p in teacher.parameters())
    assert math.isfinite(metrics["loss"]) and metrics["koleo"] != 0
    assert 0 <= metrics["entropy"] <= math.log(16) + 1e-5


# -- DINOv2's ingredients ------------------------------------------------------------------------
def test_dinov2_options_in_the_backbone():
    vit = vit_tiny(
        patch_size=8, img_size=32, depth=2, init_values=1e-5, drop_path_rate=0.2, ffn="swiglu", num_classes=0
    )
    assert torch.allclose(vit.blocks[0].ls1.gamma, torch.full((192,), 1e-5))
    assert vit.blocks[1].drop_path.drop_prob == pytest.approx(0.2)
    assert type(vit.blocks[0].mlp).__name__ == "SwiGLU"
    assert vit(torch.randn(2, 3, 32, 32)).shape == (2, 192)
    teacher = dino.make_teacher(dino.MultiCropWrapper(vit, dino.DINOHead(192, 8, 16, 4)))
    assert teacher.backbone.blocks[1].drop_path.drop_prob == 0.0  # stochastic depth: student only


def test_koleo_matches_naive_loop():
    x = torch.randn(7, 5, dtype=torch.float64)
    xn = [v / v.norm() for v in x]
    want = (
        -sum(math.log(min((xn[i] - xn[j]).norm().item() for j in range(7) if j != i)) for i in range(7)) / 7
    )
    assert koleo_loss(x).item() == pytest.approx(want, abs=1e-6)


# -- the collapse regimes (the slide "why centering and sharpening") -----------------------------
def toy_images(n=128, size=16, seed=1):
    """A coloured square on grey, anywhere: enough for the teacher's dynamics to show."""
    g = torch.Generator().manual_seed(seed)
    images = torch.full((n, 3, size, size), 0.5)
    for i in range(n):
        s = int(torch.randint(size // 4, size * 5 // 8, (1,), generator=g))
        top, left = torch.randint(0, size - s, (2,), generator=g).tolist()
        images[i, :, top : top + s, left : left + s] = torch.rand(3, 1, 1, generator=g)
    return images


@pytest.mark.parametrize("centering,sharpening", [(True, True), (False, True), (True, False)])
def test_collapse_runs_end_in_their_regime(centering, sharpening):
    torch.set_num_threads(1)
    history = collapse_run(
        toy_images(), centering=centering, sharpening=sharpening, steps=80, batch_size=32, crop_size=16
    )
    assert classify_regime(history) == history["regime"], (
        history["regime"],
        history["entropy"][-10:],
        history["top_share"][-10:],
    )


# -- attention Jaccard ---------------------------------------------------------------------------
def test_attention_jaccard_per_head_and_report():
    attn = torch.rand(3, 8, 8)
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[16:40, 8:48] = True
    per_head = attention_jaccard(attn, mask)
    assert per_head.shape == (3,)
    assert per_head[1].item() == pytest.approx(attention_jaccard(attn[1], mask))
    perfect = torch.zeros(8, 8)
    perfect[2:5, 1:6] = 1.0  # exactly the mask's patches
    assert attention_jaccard(perfect, mask, mass=0.99) == pytest.approx(1.0)
    kept = threshold_attention(attn, 0.6)
    held = (attn * kept).sum((-2, -1)) / attn.sum((-2, -1))
    assert (held >= 0.6 - 1e-6).all()
    assert foreground_mass_ratio(torch.ones(8, 8), mask).item() == pytest.approx(1.0)
    assert foreground_mass_ratio(perfect, mask).item() > 3
    assert centred_blob(8, 8).argmax() in (27, 28, 35, 36)
    with pytest.raises(ValueError, match="multiple"):
        attention_jaccard(torch.rand(8, 8), torch.zeros(60, 60, dtype=torch.bool))
    vit = vit_tiny(patch_size=8, img_size=32, depth=2, num_classes=0).eval()
    report = attention_jaccard_report(vit, torch.randn(4, 3, 32, 32), torch.rand(4, 32, 32) > 0.5)
    assert len(report["per_head"]) == 3 and report["best_head"] == max(report["per_head"])
    assert report["mean_heads"] == pytest.approx(sum(report["per_head"]) / 3)


# -- official weights, offline: random weights in the official layout ---------------------------
def test_our_vit_small_has_the_official_dino_layout():
    want = official_layout("dino_vits16.txt")
    got = {k: tuple(v.shape) for k, v in vit_small(patch_size=16, num_classes=0).state_dict().items()}
    assert got == want


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def test_official_backbone_and_full_checkpoint_load_strictly(hub_cache):
    from course_lib.checkpoints import CheckpointError, load_pretrained

    torch.manual_seed(0)
    reference = vit_small(patch_size=8, num_classes=0).eval()
    backbone = reference.state_dict()
    torch.save(backbone, hub_cache / Path(official_url("dino_vits8")).name)
    model = load_pretrained("dino_vits8")
    x = torch.randn(1, 3, 64, 64)
    assert not model.training and torch.allclose(model(x), reference(x), atol=1e-5)

    # a full training checkpoint: teacher without, student with DDP's `module.` prefix, plus args
    import argparse

    head = dino.DINOHead(384, 64, 32, 16).state_dict()
    full = {
        "teacher": {
            **{f"backbone.{k}": v for k, v in backbone.items()},
            **{f"head.{k}": v for k, v in head.items()},
        },
        "student": {f"module.backbone.{k}": v + 1 for k, v in backbone.items()},
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_small"),
    }
    torch.save(full, hub_cache / Path(official_url("dino_vits8", full=True)).name)
    teacher = load_official("dino_vits8", full=True)
    assert torch.allclose(teacher(x), reference(x), atol=1e-5)
    student = dino.unwrap_state_dict(full, "student")
    assert set(student) == set(backbone) and torch.equal(student["cls_token"], backbone["cls_token"] + 1)

    # a truncated download: one sentence, before any model is built
    path = hub_cache / Path(official_url("dino_vits16")).name
    path.write_bytes((hub_cache / Path(official_url("dino_vits8")).name).read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_pretrained("dino_vits16")


def test_official_names_are_registered():
    from course_lib.checkpoints import OFFICIAL, resolve

    for name in ("dino_vits16", "dino_vits8", "dino_vitb16", "dino_vitb8"):
        assert callable(resolve(OFFICIAL[name]))
        assert official_url(name).startswith("https://dl.fbaipublicfiles.com/dino/")


# -- augmentation and the recipe -----------------------------------------------------------------
def test_batch_multicrop_shapes_and_range():
    torch.manual_seed(0)
    crops = MultiCrop(64, 32, n_local=3)(torch.rand(4, 3, 64, 64))
    assert [tuple(c.shape) for c in crops] == [(4, 3, 64, 64)] * 2 + [(4, 3, 32, 32)] * 3
    assert all(c.min() >= 0 and c.max() <= 1 for c in crops)
    assert not torch.allclose(crops[0], crops[1])


def test_rotate_hue_keeps_grey_and_full_turns():
    from course_lib.data.color import hue_shift as rotate_hue

    x = torch.rand(3, 3, 8, 8)
    assert torch.allclose(rotate_hue(x, torch.full((3, 1, 1, 1), 2 * math.pi)), x, atol=1e-4)
    grey = torch.rand(3, 1, 8, 8).expand(3, 3, 8, 8)
    # grey has no chroma to rotate
    assert torch.allclose(rotate_hue(grey, torch.rand(3, 1, 1, 1) * 6), grey, atol=1e-3)
    assert not torch.allclose(rotate_hue(x, torch.full((3, 1, 1, 1), 1.0)), x, atol=1e-2)


def test_dino_recipe_trains_and_exports(tmp_path):
    from course_lib.train import fit
    from course_lib.vit import VisionTransformer

    summary = fit(
        "dino",
        steps=2,
        batch_size=4,
        train_size=16,
        val_size=8,
        knn_train_size=16,
        out_dim=64,
        hidden_dim=32,
        n_local=2,
        out=str(tmp_path / "run"),
        progress=False,
        threads=1,
    )
    card = summary["card"]
    assert card["model"]["factory"] == "course_lib.vit:vit_tiny"
    assert {"knn_top1", "jaccard_best_head"} <= set(summary["metrics"])
    from course_lib.checkpoints import load_pretrained

    model = load_pretrained("final", directory=tmp_path / "run")
    assert isinstance(model, VisionTransformer) and model.config.patch_size == 8


# -- the app page --------------------------------------------------------------------------------
PAGE = ROOT / "streamlit_app" / "topics" / "03_attention_maps.py"


def test_attention_maps_page_runs():
    import sys

    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Attention maps"
    assert len(at.image) >= 4  # the grid, the masks, the query view, the rollout
    assert len(at.table) == 1  # per-head Jaccard of the ShapesWorld sample
    for slider in at.slider:
        if slider.label == "Attention mass kept":
            slider.set_value(0.3)
    at.run()
    assert not at.exception
    at.selectbox[0].set_value("random init (same ViT, untrained)").run()
    assert not at.exception
    at.radio[0].set_value("Upload an image").run()  # no file yet: a hint, not an error
    assert not at.exception and at.info


def test_attention_rows_match_full_maps():
    vit = vit_tiny(patch_size=8, img_size=32, depth=3, num_classes=0).eval()
    x = torch.randn(2, 3, 32, 32)
    rows, roll = attention_rows(vit, x, queries=(0, 5), rollout=True)
    maps = vit.get_selfattention(x)
    assert rows.shape == (3, 2, 3, 2, 17)
    for layer, attn in enumerate(maps):
        assert torch.allclose(rows[layer, :, :, 0], attn[:, :, 0], atol=1e-6)
        assert torch.allclose(rows[layer, :, :, 1], attn[:, :, 5], atol=1e-6)
    from course_lib.evaluate import attention_rollout

    full = attention_rollout(maps)
    assert torch.allclose(roll, full[:, [0, 5]], atol=1e-5)
    assert torch.allclose(full.sum(-1), torch.ones(2, 17), atol=1e-5)


@pytest.mark.browser
@pytest.mark.slow
def test_attention_page_in_chromium_with_a_good_and_a_bad_upload(app_url, browser_page, tmp_path):
    from browser import try_good_and_bad_upload

    try_good_and_bad_upload(browser_page, f"{app_url}/attention_maps", tmp_path, "Attention mass kept")


# -- the bundled checkpoint (skipped until `dino-vit-shapes` is bundled) ---------------------------
@pytest.mark.slow
def test_bundled_dino_card_figures_reproduce():
    from types import SimpleNamespace

    from course_lib.checkpoints import card, list_pretrained, load_pretrained
    from course_lib.train.recipes.dino import evaluate_backbone

    if "dino-vit-shapes" not in list_pretrained("bundled"):
        pytest.skip("dino-vit-shapes is not bundled yet (benchmarks/dino_gpu_run.sh trains it)")
    info = card("dino-vit-shapes")
    torch.set_num_threads(2)
    model = load_pretrained("dino-vit-shapes")
    cfg = SimpleNamespace(**info["config"])
    measured = evaluate_backbone(model, cfg, torch.device("cpu"))
    for key in ("knn_top1", "jaccard_best_head", "jaccard_mean_heads"):
        assert measured[key] == pytest.approx(info["metrics"][key], abs=0.02), key  # bf16 on GPU vs fp32 here


@pytest.mark.slow
def test_attention_page_offers_downloaded_official_weights(hub_cache):
    import sys

    from streamlit.testing.v1 import AppTest

    torch.manual_seed(0)
    torch.save(
        vit_small(patch_size=8, num_classes=0).state_dict(),
        hub_cache / Path(official_url("dino_vits8")).name,
    )
    sys.path.insert(0, str(ROOT / "streamlit_app"))
    at = AppTest.from_file(str(PAGE), default_timeout=300)
    at.run()
    choice = "official dino_vits8 (downloaded)"
    assert choice in at.selectbox[0].options
    at.selectbox[0].set_value(choice).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.table) == 1  # per-head Jaccard, now with 6 heads at 224 px


def test_what_features_know_reports_each_attribute_of_the_main_object():
    from course_lib.data import ShapesWorld
    from course_lib.experiments.dino import main_object_attributes, what_features_know

    images, labels = main_object_attributes(12, split="test", start=3)
    assert images.shape == (12, 3, 64, 64)
    assert torch.equal(labels["shape"], ShapesWorld(15, split="test").batch(range(3, 15))["label"])
    torch.manual_seed(0)
    model = vit_tiny(patch_size=8, img_size=64, depth=1, num_classes=0).eval()
    table = what_features_know({"random": model}, n_test=12, n_train=24)
    assert set(table["random"]) == {"shape", "color", "pattern"}
    assert all(0 <= v <= 1 for v in table["random"].values())
    assert table["_chance"]["shape"] == pytest.approx(1 / 6)
