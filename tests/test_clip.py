"""CLIP: tokenizers (BPE ids equal open_clip's), parity with open_clip ViT-B/32 and B/16, the
official layout, zero-shot / ranking / retrieval, the recipe, the bundled clip-shapes and the app
page."""

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_lib import clip as C
from course_lib.evaluate.clip import (
    occlusion_text_map,
    patch_text_similarity,
    rank_of,
    ranking_sentence,
    retrieval_recall,
    zero_shot_classify,
)
from course_lib.official.clip import OPENAI_URLS, load_clip, read_openai_state_dict
from course_lib.tokenizers import BPETokenizer, WordTokenizer, clean_text, pre_tokenize

ROOT = Path(__file__).resolve().parents[1]
KEYS = ROOT / "tests" / "fixtures" / "official_keys" / "clip_vitb32.txt"

# A broad set for the tokenizer: punctuation, numbers, accents (composed and decomposed), emoji,
# scripts, typography ftfy fixes, HTML entities, special-token text, and texts that must be cut.
STRINGS = [
    "a photo of a cat.", "A PHOTO OF A DOG!!!", "", "   ", "hello,world;foo:bar?",
    "it's a dog's life, isn't it? we'll see, I'd go, they're, you've, I'm", "ITS'S 'S'T",
    "3.14159 + 2 = 5.14159", "1,000,000 dollars in 2024", "Café naïve résumé jalapeño",
    "cafe\u0301 (decomposed)", "Ünïcödé ÀÉÎÕÜ ß ø å æ œ", "emoji 🐶🐱 👍🏽 🇫🇷 ❤️", "中文字符 日本語 한국어",
    "Привет мир", "مرحبا بالعالم", "\u201ccurly quotes\u201d and \u2018single\u2019", "ﬁne ﬂour ﬀ",
    "ｆｕｌｌ　ｗｉｄｔｈ １２３", "tab\tand\nnewline\r\nend", "&amp; &lt;tag&gt; &amp;amp;",
    "<start_of_text> inside <end_of_text> text", "a" * 300, " ".join(["word"] * 100),
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "#hashtag @user http://example.com/path?q=1&b=2", "x^2 + y_1 ~ z | w \\ / * % $ € £ ¥", "—–-… •·",
    "don't stop—believin'", "Ranked 1 out of 101 labels: guacamole, a type of food.",
    "\x00ctrl\x07chars\u200bzero", "ΑΒΓ αβγ", "numbers ½ ² ³ ⅷ", "mixed123abc456", "'''''quotes'''",
    "e.g. U.S.A. i.e.", "😀" * 60,
]


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer()


def tiny(**kw):
    torch.manual_seed(0)
    return C.clip_shapes_tiny(**kw).eval()


# -- tokenizers -----------------------------------------------------------------------------------
def test_bpe_ids_equal_open_clip(bpe):
    open_clip = pytest.importorskip("open_clip")
    ours, ref = bpe(STRINGS), open_clip.get_tokenizer("ViT-B-32")(STRINGS)
    for text, a, b in zip(STRINGS, ours, ref):
        assert torch.equal(a, b), f"{text!r}: {a[:12].tolist()} vs {b[:12].tolist()}"


def test_bpe_vocabulary_special_tokens_and_cut(bpe):
    assert bpe.vocab_size == 49408 and (bpe.sot_token_id, bpe.eot_token_id) == (49406, 49407)
    ids = bpe("a " * 200)[0]
    assert ids.shape == (77,) and ids[0] == 49406 and ids[-1] == 49407  # cut, <end_of_text> kept
    assert bpe(["", "x"]).shape == (2, 77) and bpe("")[0, :3].tolist() == [49406, 49407, 0]


def test_bpe_decode_round_trip(bpe):
    assert bpe.decode(bpe.encode("A photo of a café 🐶!")) == "a photo of a café 🐶!"


def test_pre_tokenize_rule():
    assert pre_tokenize("it's 2024!!") == ["it", "'s", "2", "0", "2", "4", "!!"]
    assert clean_text("  Two\n\tLINES &amp; \u201cquotes\u201d ") == 'two lines & "quotes"'


def test_word_tokenizer():
    tok = WordTokenizer(["a", "red", "circle"], context_length=6)
    ids = tok(["A red circle!", "a blue circle", "a a a a a a a"])
    assert tok.eot_token_id == tok.vocab_size - 1  # the largest id: CLIP pools at argmax
    assert ids[0].tolist() == [tok.sot_token_id, 2, 3, 4, tok.eot_token_id, 0]
    assert ids[1, 2].item() == 1  # unknown word
    assert ids[2, -1].item() == tok.eot_token_id  # cut
    assert tok.decode(ids[0].tolist()) == "a red circle"


# -- the model ------------------------------------------------------------------------------------
def test_state_dict_equals_official_layout():
    rows = [line.split("\t") for line in KEYS.read_text().splitlines() if line.strip()]
    official = {k: tuple(int(s) for s in re.findall(r"\d+", shape)) for k, shape in rows}
    with torch.device("meta"):
        model = C.clip_vit_b32()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == official
    assert C.config_from_state_dict(model.state_dict()) == C.CLIPConfig()


@pytest.mark.parametrize("name, factory", [
    ("ViT-B-32", C.clip_vit_b32),
    pytest.param("ViT-B-16", C.clip_vit_b16, marks=pytest.mark.slow),  # 4× the patches
])
def test_parity_with_open_clip(name, factory, bpe):
    open_clip = pytest.importorskip("open_clip")
    ref = open_clip.create_model(name, pretrained=None, force_quick_gelu=True).eval()
    with torch.device("meta"):
        ours = factory()
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)  # shares the tensors
    images, texts = torch.randn(1, 3, 224, 224), bpe(["a photo of a cat", "a dog 🐶 running in the snow"])
    with torch.no_grad():
        image_f, text_f = ref.encode_image(images), ref.encode_text(texts)
        torch.testing.assert_close(ours.encode_image(images), image_f, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.encode_text(texts), text_f, atol=1e-5, rtol=0)
        logits_per_image, logits_per_text = ours(images, texts)
    image_f, text_f = F.normalize(image_f, dim=-1), F.normalize(text_f, dim=-1)
    expected = ref.logit_scale.exp() * image_f @ text_f.T
    torch.testing.assert_close(logits_per_image, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(logits_per_text, logits_per_image.T)


def test_quick_gelu_logit_scale_and_clamp():
    x = torch.linspace(-4, 4, 9)
    torch.testing.assert_close(C.QuickGELU()(x), x * torch.sigmoid(1.702 * x))
    model = tiny()
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07))  # stored as a log
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.temperature_scale().item() == pytest.approx(100.0)  # clipped at 100


def test_text_encoder_is_causal_and_pools_at_end_of_text():
    model, tok = tiny(), WordTokenizer(["a", "red", "circle", "square"])
    a, b = tok(["a red circle", "a red square"]), tok(["a red", "a red"])
    with torch.no_grad():
        h = model.transformer(model.token_embedding(a) + model.positional_embedding[:16],
                              attn_mask=C.causal_mask(16))
    torch.testing.assert_close(h[0, :3], h[1, :3])  # the first tokens cannot see the last word
    with torch.no_grad():
        e1, e2 = model.encode_text(a), model.encode_text(b)
    assert not torch.allclose(e1[0], e1[1]) and torch.allclose(e2[0], e2[1])


def test_forward_shapes_and_patch_map():
    model = tiny()
    images, texts = torch.randn(3, 3, 64, 64), WordTokenizer(["a"])(["a", "a a", "a a a", "a a a a"])
    logits_per_image, logits_per_text = model(images, texts)
    assert logits_per_image.shape == (3, 4) and logits_per_text.shape == (4, 3)
    text = model.encode_text(texts[:1])
    sim = patch_text_similarity(model, images, text[0])
    assert sim.shape == (3, 8, 8) and sim.abs().max() <= 1 + 1e-5
    occ = occlusion_text_map(model, images[:2], text[0])
    assert occ.shape == (2, 8, 8)
    hidden = images[1:2].clone()
    hidden[..., 8:16, 0:8] = 0  # patch (row 1, column 0)
    unit = F.normalize(text[0], dim=0)
    with torch.no_grad():
        before = model.encode_image(images[1:2], normalize=True) @ unit
        drop = before - model.encode_image(hidden, normalize=True) @ unit
    torch.testing.assert_close(occ[1, 1, 0], drop[0], atol=1e-5, rtol=0)
    assert len(model.visual.get_selfattention(images)) == 4


# -- zero-shot, ranking, retrieval ----------------------------------------------------------------
def test_zero_shot_classify_ensembles_normalized_templates():
    model, tok = tiny(), WordTokenizer(["a", "large", "small", "red", "blue", "circle"])
    images = C.preprocess(torch.rand(2, 3, 64, 64))
    names, templates = ["red circle", "blue circle"], ["a {}", "a large {}", "a small {}"]
    probs = zero_shot_classify(model, images, names, templates, tokenizer=tok)
    assert probs.shape == (2, 2) and torch.allclose(probs.sum(-1), torch.ones(2))
    # by hand: normalize each prompt, average over templates, renormalize, scale, softmax
    with torch.no_grad():
        prompts = [tp.format(n) for n in names for tp in templates]
        t = F.normalize(model.encode_text(tok(prompts)), dim=-1)
        t = F.normalize(t.view(2, 3, -1).mean(1), dim=-1)
        i = model.encode_image(images, normalize=True)
    torch.testing.assert_close(probs, (model.temperature_scale() * i @ t.T).softmax(-1))
    with pytest.raises(ValueError, match="at least one class"):
        zero_shot_classify(model, images, [], tokenizer=tok)


def test_ranking_and_retrieval():
    scores = torch.tensor([0.1, 0.7, 0.3, 0.9])
    assert rank_of(scores, 1) == 2 and ranking_sentence(scores, 3) == "Ranked 1 out of 4"
    sim = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.5, 0.0], [0.0, 0.2, 0.1]])
    r = retrieval_recall(sim, ks=(1, 2))
    assert r["image_to_text_R@1"] == pytest.approx(1 / 3) and r["image_to_text_R@2"] == pytest.approx(1.0)
    assert r["text_to_image_R@1"] == pytest.approx(1.0)
    same = torch.eye(3, dtype=torch.bool)
    same[1, 0] = same[0, 1] = True  # captions 0 and 1 identical: either counts
    assert retrieval_recall(sim, ks=(1,), positives=same)["image_to_text_R@1"] == pytest.approx(2 / 3)


def test_preprocess_normalizes_with_openai_statistics():
    x = C.preprocess(torch.full((3, 32, 32), 0.5), size=64)
    assert x.shape == (1, 3, 64, 64)
    expected = (0.5 - torch.tensor(C.OPENAI_MEAN)) / torch.tensor(C.OPENAI_STD)
    torch.testing.assert_close(x[0, :, 0, 0], expected)


# -- official weights (never downloaded in tests) -------------------------------------------------
def test_official_entries_and_reader(tmp_path):
    from course_lib.checkpoints import OFFICIAL, resolve

    for name in ("clip_vit_b32", "clip_vit_b16"):
        assert callable(resolve(OFFICIAL[name]))
        assert re.fullmatch(r"[0-9a-f]{64}", OPENAI_URLS[name].rsplit("/", 2)[-2])  # sha256 in the address
    sd = {k: v.half() for k, v in tiny().state_dict().items()}
    extras = {"input_resolution": torch.tensor(64), "vocab_size": torch.tensor(64)}
    torch.save({**sd, **extras}, tmp_path / "w.pt")
    loaded = read_openai_state_dict(tmp_path / "w.pt")
    assert set(loaded) == set(sd) and all(v.dtype == torch.float32 for v in loaded.values())


def test_load_official_unknown_name_is_one_sentence():
    from course_lib.checkpoints import CheckpointError
    from course_lib.official.clip import load_official

    with pytest.raises(CheckpointError, match="choose one of"):
        load_official("clip_vit_h14")


# -- the captions data and its model input -------------------------------------------------------
def test_shift_and_model_input():
    from course_lib.data.augment import random_shift, shift
    from course_lib.data.captions import render_captions, shapes_tokenizer, to_model_input

    x = torch.rand(2, 3, 8, 8)
    moved = shift(x, torch.tensor([[2, 1], [1, 2]]), 1)  # image 0: one row down; image 1: one column
    torch.testing.assert_close(moved[0, :, :7], x[0, :, 1:])  # rows come from one below
    torch.testing.assert_close(moved[1, :, :, :7], x[1, :, :, 1:])
    torch.testing.assert_close(shift(x, torch.ones(2, 2, dtype=torch.long), 1), x)  # offset = max: no move
    assert random_shift(x, 2).shape == x.shape
    data = render_captions(4, 64, 0, "test", (1, 1))
    assert data.images.dtype == torch.uint8 and data.tokens.shape == (4, shapes_tokenizer().context_length)
    torch.testing.assert_close(to_model_input(data.images), C.preprocess(data.images.float() / 255))


def test_training_curve_experiment(tmp_path):
    import json

    from course_lib.experiments.clip import curve

    rows = [{"step": s, "epoch": s / 100, "loss": 1 / s, "logit_scale_exp": 14.0, "batch_accuracy": 0.5}
            for s in range(10, 110, 10)]
    rows.append({"step": 100, "epoch": 1.0, "split": "val", "zero_shot_shape": 0.123456})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = curve(tmp_path, out=tmp_path)
    assert record["step"] == [50, 100]
    assert record["val"] == [{"step": 100, "epoch": 1.0, "zero_shot_shape": 0.1235}]
    assert json.loads((tmp_path / "clip_training_curve.json").read_text()) == record


# -- the recipe and the bundled model -------------------------------------------------------------
def test_recipe_runs_and_writes_a_card(tmp_path):
    from course_lib.train import fit

    out = fit("clip", train_size=64, eval_size=12, retrieval_size=20, batch_size=32, steps=2,
              out=str(tmp_path / "run"), progress=False, threads=1)
    card = out["card"]
    assert card["model"]["factory"] == "course_lib.clip:clip_shapes_tiny"
    assert card["tokenizer"]["kind"] == "word"
    for key in ("zero_shot_shape", "zero_shot_color", "zero_shot_color_shape", "held_out_color_shape",
                "zero_shot_shape_direct", "held_out_shape",
                "color_shape_no_template", "color_shape_template", "color_shape_ensemble",
                "image_to_text_R@1", "text_to_image_R@5"):
        assert 0.0 <= card["metrics"][key] <= 1.0


CARD = ROOT / "data" / "checkpoints" / "clip-shapes.json"


@pytest.mark.skipif(not CARD.exists(), reason="clip-shapes is not bundled yet")
def test_bundled_clip_shapes_recognizes_shapes_and_colours():
    from course_lib.data.captions import render_captions
    from course_lib.evaluate.clip_shapes import image_features, targets_of, zero_shot_predictions

    model, tok, size = load_clip("clip-shapes")
    data = render_captions(96, size, 7, "test", (1, 1))  # images the card's evaluation never used
    predicted = zero_shot_predictions(model, tok, image_features(model, data, "cpu"))
    for task, target in zip(("shape", "color", "color_shape"), targets_of(data)):
        accuracy = (predicted[task] == target).float().mean().item()
        assert accuracy >= {"shape": 0.85, "color": 0.9, "color_shape": 0.8}[task], task


# -- the app page ---------------------------------------------------------------------------------
def test_clip_rankings_page():
    import sys

    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    page = ROOT / "streamlit_app" / "topics" / "07_clip_rankings.py"
    at = AppTest.from_file(str(page), default_timeout=120)
    at.run()
    assert not at.exception and any("out of" in m.value for m in at.markdown)
    for view in ("Text → images", "Similarity matrix", "Where does the text match?", "Rank labels"):
        at.radio(key="clip_view").set_value(view).run()
        assert not at.exception, view
    at.text_area(key="clip_labels").set_value("  \n ").run()
    assert not at.exception and "label list is empty" in at.error[0].value
    at.text_area(key="clip_labels").set_value("red circle")
    at.text_input(key="clip_template").set_value("a").run()
    assert not at.exception and "needs exactly one {}" in at.error[0].value
    at.text_input(key="clip_template").set_value("a {}")
    at.radio(key="clip_src").set_value("Upload an image").run()
    assert not at.exception and not at.error  # waits for a file (bad files: common.load_image_upload)


@pytest.mark.browser
@pytest.mark.slow
def test_clip_rankings_page_in_chromium(app_url, browser_page, tmp_path):
    """The page in a real browser: ranked bars, an empty label list and a bad upload answered."""
    from browser import exception_boxes, wait_until_rendered

    def alerts(page):
        return " ".join(e.inner_text() for e in page.query_selector_all('[data-testid="stAlert"]'))

    page = browser_page
    page.goto(f"{app_url}/clip_rankings")
    wait_until_rendered(page)
    assert "out of 72" in page.content()
    labels = page.get_by_label("Labels, one per line")
    labels.fill("")
    labels.press("Control+Enter")
    wait_until_rendered(page)
    assert "label list is empty" in alerts(page)
    page.get_by_text("Upload an image", exact=True).first.click()
    wait_until_rendered(page)
    (tmp_path / "bad.png").write_text("not an image")
    page.set_input_files('input[type="file"]', str(tmp_path / "bad.png"))
    wait_until_rendered(page)
    assert "not an image this app can read" in alerts(page)
    assert not exception_boxes(page)
