"""Audio: spectrograms against torch and transformers, f0, the AST, the clips, WAV I/O, the page."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import audio as A
from course_lib.data import pitch as P
from course_lib.data import spectrogram as S
from course_lib.data.audio_clips import (
    CLASSES,
    AudioClips,
    AudioError,
    pcm_to_float,
    read_wav,
    resample,
    wav_bytes,
)

SR = 16000
ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "streamlit_app" / "topics" / "08_spectrograms.py"
BUNDLED = "ast-mini-audioclips"


def harmonic(f0, n=SR, harmonics=5, noise=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64) / SR
    x = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, harmonics + 1))
    return (x + noise * torch.randn(n, generator=g, dtype=torch.float64)).float()


# -- spectrograms ----------------------------------------------------------------------------------
def test_hann_window_equals_torch():
    for n in (400, 1024):
        ref = torch.hann_window(n, dtype=torch.float64)
        torch.testing.assert_close(S.hann_window(n, torch.float64), ref, atol=1e-12, rtol=0)
        torch.testing.assert_close(S.hann_window(n), torch.hann_window(n), atol=1e-6, rtol=0)


def test_frame_signal_matches_naive_loop():
    x = torch.arange(20.0)
    frames = S.frame_signal(x, 6, 4)  # (4, 6)
    assert frames.shape == (4, 6)
    for f in range(4):
        assert torch.equal(frames[f], x[4 * f: 4 * f + 6])
    with pytest.raises(ValueError, match="fewer than one frame"):
        S.frame_signal(x[:3], 6, 4)


STFT_CASES = [(1024, None, True), (512, 400, True), (400, None, False)]


@pytest.mark.parametrize("n_fft,win_length,center", STFT_CASES)
def test_stft_equals_torch_stft(n_fft, win_length, center):
    x = 0.3 * torch.randn(2, 8000)
    window = torch.hann_window(win_length or n_fft)
    ref = torch.stft(x, n_fft, 160, win_length=win_length, window=window, center=center, return_complex=True)
    ours = S.stft(x, n_fft, 160, win_length=win_length, center=center)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() < 1e-5
    assert (S.stft(x[0], n_fft, 160, win_length=win_length, center=center) - ref[0]).abs().max() < 1e-5


def test_stft_float64_is_exact():
    x = torch.randn(4000, dtype=torch.float64)
    ref = torch.stft(x, 256, 64, window=torch.hann_window(256, dtype=torch.float64), return_complex=True)
    assert (S.stft(x, 256, 64) - ref).abs().max() < 1e-10


@pytest.mark.parametrize("norm,mel_scale", [(None, "htk"), ("slaney", "slaney"), (None, "kaldi")])
def test_mel_filter_bank_equals_transformers(norm, mel_scale):
    from transformers.audio_utils import mel_filter_bank

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mel_filter_bank(513, 128, 0.0, 8000.0, SR, norm=norm, mel_scale=mel_scale)
    ours = S.mel_filter_bank(513, 128, 0.0, 8000.0, SR, norm=norm, mel_scale=mel_scale)
    assert ours.shape == (513, 128)
    assert np.abs(ours.numpy() - ref).max() < 1e-6


def test_mel_scale_round_trip_and_reference_values():
    f = torch.tensor([0.0, 440.0, 1000.0, 4000.0, 8000.0])
    for scale in ("htk", "slaney", "kaldi"):
        torch.testing.assert_close(S.mel_to_hz(S.hz_to_mel(f, scale), scale), f.double())
    assert abs(S.hz_to_mel(1000.0, "htk") - 1000.0) < 0.1  # the mel scale's anchor: 1 kHz ≈ 1000 mel
    assert float(S.hz_to_mel(1000.0, "slaney")) == 15.0
    with pytest.raises(ValueError, match="Unknown mel scale"):
        S.hz_to_mel(1.0, "bark")


def test_mel_spectrogram_equals_transformers_spectrogram():
    from transformers.audio_utils import spectrogram, window_function

    cfg = S.SpectrogramConfig()
    x = 0.1 * torch.randn(SR)
    filters = S.mel_filter_bank(513, 128, 0.0, 8000.0, SR).numpy().astype(np.float64)
    ref = spectrogram(x.double().numpy(), window_function(1024, "hann"), 1024, 160, power=2.0,
                      mel_filters=filters, mel_floor=1e-30)
    ours = S.mel_spectrogram(x.double(), cfg)
    assert ours.shape == ref.shape == (128, 101)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-5, atol=1e-8)


def test_log_mel_and_model_input_ranges():
    x = harmonic(220.0, noise=0.01)
    db = S.log_mel_spectrogram(x)
    assert db.shape == (128, 101)
    assert db.max() == 0 and db.min() >= -80
    assert torch.allclose(S.model_input(x), db / 40 + 1)
    assert torch.allclose(S.model_input(10 * x), S.model_input(x), atol=1e-4)  # loudness-invariant


def test_silence_gives_finite_features():
    silence = torch.zeros(SR)
    assert torch.isfinite(S.model_input(silence)).all()
    assert torch.isfinite(P.estimate_f0(silence, SR))


def test_power_to_db():
    p = torch.tensor([[1.0, 10.0, 100.0, 1e-20]])
    torch.testing.assert_close(S.power_to_db(p), torch.tensor([[0.0, 10.0, 20.0, -100.0]]))
    torch.testing.assert_close(S.power_to_db(p, top_db=15), torch.tensor([[5.0, 10.0, 20.0, 5.0]]))


def test_frame_energy_db():
    x = torch.cat([torch.zeros(1600), torch.ones(1600)])
    e = S.frame_energy_db(x, 400, 160)
    assert e[0] == -100 and e[-1] == 0


@pytest.mark.parametrize("f0", [82.4, 220.0, 311.1, 987.8])
def test_estimate_f0_of_harmonic_sounds(f0):
    assert abs(float(P.estimate_f0(harmonic(f0, noise=0.05), SR)) - f0) < 0.01 * f0
    pure = torch.sin(2 * math.pi * f0 * torch.arange(SR) / SR)  # HPS alone would go an octave low
    assert abs(float(P.estimate_f0(pure, SR)) - f0) < 0.01 * f0


def test_estimate_f0_batched_and_on_clips():
    batch = torch.stack([harmonic(150.0), harmonic(400.0)])
    est = P.estimate_f0(batch, SR)
    assert est.shape == (2,) and abs(est[0] - 150) < 1.5 and abs(est[1] - 400) < 4
    clips = AudioClips(27, split="test")
    for i in range(27):
        item = clips[i]
        if item["name"] in ("pure_tone", "harmonic_tone", "chord"):
            a, b = int(item["onset"] * SR), int(item["offset"] * SR)
            assert abs(float(P.estimate_f0(item["wave"][a:b], SR)) - item["f0"]) < 0.01 * item["f0"]


def test_f0_track_marks_unvoiced_frames():
    t = torch.arange(SR) / SR
    tone = harmonic(150.0)
    hiss = 0.5 * torch.randn(SR) * (t > 0.5)  # second half: noise, nothing harmonic
    x = torch.where(t > 0.5, hiss, tone)
    times, f0 = P.f0_track(x, SR)
    assert times.shape == f0.shape
    first, second = f0[times < 0.45], f0[times > 0.55]
    assert (first - 150).abs().max() < 3  # 2 Hz bins
    assert second.isnan().all()


def test_bundled_spoken_words():
    words = sorted((ROOT / "data" / "audio").glob("*.wav"))
    assert len(words) >= 8
    for path in words:
        x, rate = read_wav(path)
        assert rate == SR and 0.2 < len(x) / rate < 1.0 and np.abs(x).max() <= 1.0


def test_loudest_window():
    x = torch.zeros(3 * SR)
    x[SR + 4000: SR + 8000] = 1.0
    w = P.loudest_window(x, SR)
    assert w.shape == (SR,) and w.sum() == 4000
    assert P.loudest_window(torch.ones(100), SR).shape == (SR,)


# -- the audio spectrogram transformer ------------------------------------------------------------
def test_ast_shapes_and_attention():
    model = A.ast_mini(num_classes=9)
    assert model.config.grid_size == (12, 9)  # (128 − 16)/10 + 1, (101 − 16)/10 + 1
    spec = torch.randn(2, 128, 101)
    assert model(spec).shape == (2, 9)
    maps = model.get_selfattention(spec)
    assert len(maps) == 4 and maps[0].shape == (2, 4, 109, 109)
    torch.testing.assert_close(maps[-1].sum(-1), torch.ones(2, 4, 109))
    assert model.cls_attention_map(spec).shape == (2, 12, 9)
    assert model.pos_embed.shape == (1, 109, 64)
    with pytest.raises(ValueError, match="128×101"):
        model(torch.randn(1, 64, 101))


def test_ast_patches_overlap_like_the_paper():
    """AST base on 10.24 s (1024 frames): 12 × 101 = 1212 patches, as in the paper."""
    assert A.ASTConfig(n_frames=1024).grid_size == (12, 101)
    embed = A.OverlappingPatchEmbed(16, 10, 10, 8)
    spec = torch.randn(1, 128, 101)
    tokens = embed(spec)  # (1, 108, 8)
    w, b = embed.proj.weight[:, 0], embed.proj.bias  # (8, 16, 16)
    patch = spec[0, 10:26, 20:36]  # frequency row 1, time column 2
    torch.testing.assert_close(tokens[0, 1 * 9 + 2], (w * patch).sum((1, 2)) + b, atol=1e-5, rtol=1e-5)


def test_fused_attention_gives_the_same_logits():
    model = A.ast_mini().eval()
    spec = torch.randn(2, 128, 101)
    ref = model(spec)
    for blk in model.blocks:
        blk.attn.fused = True
    torch.testing.assert_close(model(spec), ref, atol=1e-5, rtol=1e-5)


def test_ast_from_image_vit():
    from course_lib.vit import vit_tiny

    vit = vit_tiny(img_size=64, num_classes=10).eval()  # 4×4 grid of 16×16 patches
    ast = A.ast_from_vit(vit, num_classes=9).eval()
    assert ast.config.embed_dim == 192 and ast.config.depth == 12
    assert ast.patch_embed.proj.weight.shape == (192, 1, 16, 16)
    assert ast.pos_embed.shape == (1, 1 + 12 * 9, 192)
    torch.testing.assert_close(ast.pos_embed[:, 0], vit.pos_embed[:, 0])  # [CLS] row kept
    torch.testing.assert_close(ast.blocks[3].mlp.fc1.weight, vit.blocks[3].mlp.fc1.weight)
    # summed kernels: a one-channel input answers as the RGB model did on a grey copy of it
    grey = torch.randn(1, 1, 32, 32)
    rgb = vit.patch_embed.proj(grey.expand(-1, 3, -1, -1))
    one = torch.nn.functional.conv2d(grey, ast.patch_embed.proj.weight, ast.patch_embed.proj.bias, stride=16)
    torch.testing.assert_close(one, rgb, atol=1e-5, rtol=1e-5)
    assert ast(torch.randn(2, 128, 101)).shape == (2, 9)


def test_presets_and_bad_preset():
    assert A.ast_tiny().config.embed_dim == 192
    with pytest.raises(ValueError, match="Unknown AST preset"):
        A.make_ast("giant")


# -- data --------------------------------------------------------------------------------------------
def test_audio_clips_are_deterministic_balanced_and_bounded():
    ds = AudioClips(18, seed=3)
    a, b = ds[5], AudioClips(18, seed=3)[5]
    assert torch.equal(a["wave"], b["wave"])
    assert a["wave"].shape == (SR,) and a["wave"].dtype == torch.float32
    labels = [ds[i]["label"] for i in range(18)]
    assert sorted(labels) == sorted(list(range(9)) * 2)
    assert all(ds[i]["wave"].abs().max() <= 1.0 for i in range(18))
    assert not torch.equal(AudioClips(1, split="test")[0]["wave"], AudioClips(1, split="train")[0]["wave"])
    assert len(CLASSES) >= 8 and AudioClips.num_classes == len(CLASSES)
    with pytest.raises(ValueError, match="Unknown split"):
        AudioClips(1, split="dev")
    with pytest.raises(IndexError):
        ds[18]


def test_every_class_has_an_event_inside_the_clip():
    ds = AudioClips(9, split="val")
    for i in range(9):
        item = ds[i]
        assert 0 <= item["onset"] < item["offset"] <= 1.0
        inside = item["wave"][int(item["onset"] * SR): int(item["offset"] * SR)].pow(2).mean()
        assert inside > item["wave"][:int(item["onset"] * SR)].pow(2).mean(), item["name"]


# -- WAV in and out ------------------------------------------------------------------------------------
def test_wav_round_trip_and_formats():
    x = 0.5 * np.sin(np.linspace(0, 200, 4000)).astype(np.float32)
    y, rate = read_wav(wav_bytes(x, 8000))
    assert rate == 8000 and np.abs(y - x).max() < 1e-4
    assert np.allclose(pcm_to_float(bytes([128, 255, 0]), 1, 1), [0, 127 / 128, -1])  # 8-bit unsigned
    assert np.allclose(pcm_to_float(b"\x00\x00\x40" * 2, 3, 2), [0.5])  # 24-bit stereo → mono
    assert np.allclose(pcm_to_float(np.array([16384, -16384], "<i2").tobytes(), 2, 2), [0.0])


def test_read_wav_bad_input_is_one_sentence():
    with pytest.raises(AudioError, match="not a PCM WAV"):
        read_wav(b"\x89PNG\r\n\x1a\n not audio")
    with pytest.raises(AudioError, match="at most 2 s"):
        read_wav(wav_bytes(np.zeros(3 * SR)), max_seconds=2)
    with pytest.raises(AudioError, match="no samples"):
        read_wav(wav_bytes(np.zeros(0)))


def test_resample_keeps_a_tone():
    t44 = np.arange(44100) / 44100
    y = resample(np.sin(2 * np.pi * 440 * t44), 44100, SR)
    assert y.shape == (SR,)
    assert np.abs(y - np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).max() < 1e-4


# -- the recipe, the bundled classifier ---------------------------------------------------------------
def test_recipe_trains_two_steps(tmp_path):
    from course_lib.train import fit

    summary = fit("ast", train_size=16, val_size=9, batch_size=8, steps=2, out=str(tmp_path / "run"),
                  progress=False, threads=1)
    assert summary["finished"] and 0 <= summary["metrics"]["test_top1"] <= 1
    assert summary["card"]["model"]["factory"] == "course_lib.audio:AudioSpectrogramTransformer"


def test_recipe_from_vit_uses_the_ast_trick(monkeypatch):
    import course_lib.checkpoints
    from course_lib.train import get_recipe
    from course_lib.vit import vit_tiny

    monkeypatch.setattr(course_lib.checkpoints, "load_pretrained", lambda name: vit_tiny(img_size=64))
    recipe = get_recipe("ast")
    model = recipe.build_model(recipe.make_config(from_vit="any-vit"))
    assert model.config.embed_dim == 192 and model.patch_embed.proj.weight.shape == (192, 1, 16, 16)
    from course_lib.train import TrainError

    monkeypatch.setattr(course_lib.checkpoints, "load_pretrained", lambda name: torch.nn.Linear(2, 2))
    with pytest.raises(TrainError, match="not an image ViT"):
        recipe.build_model(recipe.make_config(from_vit="a-linear"))
    with pytest.raises(TrainError, match="Unknown --preset"):
        recipe.build_model(recipe.make_config(preset="giant"))


def test_bundled_classifier_card_and_heldout_accuracy():
    from course_lib.checkpoints import card, load_pretrained
    from course_lib.train.recipes import ast as ast_recipe

    info = card(BUNDLED)
    assert info["metrics"]["test_top1"] >= 0.95
    assert info["input"]["classes"] == list(CLASSES)
    model = load_pretrained(BUNDLED)
    assert ast_recipe.clip_accuracy(model, AudioClips(270, split="test")) >= 0.95


def test_every_bundled_ast_card_resolves_and_loads():
    """The cards' factory and features strings still name the model and the front end."""
    from course_lib.checkpoints import card, list_pretrained, load_pretrained, resolve

    names = [n for n in list_pretrained("bundled") if card(n).get("recipe") == "ast"]
    assert BUNDLED in names
    for name in names:
        info = card(name)
        assert isinstance(load_pretrained(name), A.AudioSpectrogramTransformer)
        assert resolve(info["input"]["features"]) is S.model_input
        assert S.SpectrogramConfig(**info["input"]["spectrogram"]) == S.SpectrogramConfig()


# -- the app page ----------------------------------------------------------------------------------------
def _page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_page_runs_on_a_sample():
    at = _page()
    assert "Spectrograms" in at.title[0].value
    assert not at.error
    assert any("The model hears" in m.value for m in at.markdown)


def test_page_spoken_word():
    at = _page()
    at.radio[0].set_value("Spoken word").run()
    assert not at.exception and not at.error
    assert any("spoken word" in h.value for h in at.subheader)


def test_page_upload_good_bad_and_too_long():
    at = _page()
    at.radio[0].set_value("Upload a WAV").run()
    at.file_uploader[0].set_value(("notes.txt", b"just some text, not audio", "text/plain")).run()
    assert not at.exception and len(at.error) == 1 and "not a PCM WAV" in at.error[0].value
    long = wav_bytes(np.zeros(11 * 8000), 8000)
    at.file_uploader[0].set_value(("long.wav", long, "audio/wav")).run()
    assert not at.exception and len(at.error) == 1 and "at most 10 s" in at.error[0].value
    good = wav_bytes(0.5 * harmonic(330.0, n=2 * SR).numpy())
    at.file_uploader[0].set_value(("tone.wav", good, "audio/wav")).run()
    assert not at.exception and not at.error
    assert any("330 Hz" in m.value for m in at.metric)


@pytest.mark.browser
@pytest.mark.slow
def test_page_uploads_in_chromium(app_url, browser_page, tmp_path):
    """A bad and a good upload through the real file input of the page, in headless Chromium."""
    from browser import exception_boxes, wait_until_rendered

    bad, good = tmp_path / "notes.txt", tmp_path / "tone.wav"
    bad.write_text("not audio at all")
    good.write_bytes(wav_bytes(0.5 * harmonic(330.0, n=SR).numpy()))
    page = browser_page
    page.goto(f"{app_url}/spectrograms")
    wait_until_rendered(page)
    page.get_by_text("Upload a WAV").click()
    page.locator('input[type="file"]').set_input_files(str(bad))
    page.get_by_text("not a PCM WAV audio file").wait_for(timeout=60_000)
    page.locator('input[type="file"]').set_input_files(str(good))
    page.get_by_text("The model hears").wait_for(timeout=90_000)
    assert not exception_boxes(page)
