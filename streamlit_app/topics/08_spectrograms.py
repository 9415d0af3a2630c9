"""Spectrograms: a sound becomes an image, and a transformer classifies its patches."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # streamlit_app/, for `common`

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402
from common import show_error  # noqa: E402

from course_lib.data import pitch, spectrogram  # noqa: E402
from course_lib.data.audio_clips import (  # noqa: E402
    CLASSES,
    MAX_SECONDS,
    SAMPLE_RATE,
    AudioClips,
    AudioError,
    read_wav,
    resample,
)
from course_lib.viz import audio as viz  # noqa: E402

MODEL_NAME = "ast-mini-audioclips"
WORDS_DIR = Path(__file__).resolve().parents[2] / "data" / "audio"


@st.cache_resource(show_spinner=False)
def load_model():
    """The bundled classifier, or (None, reason) when it is not there."""
    from course_lib.checkpoints import CheckpointError, load_pretrained

    try:
        return load_pretrained(MODEL_NAME), None
    except CheckpointError as err:
        return None, str(err)


@st.cache_data(show_spinner=False)
def sample_clip(index):
    """Held-out clip `index` of the test split: (wave float32 numpy, class name)."""
    item = AudioClips(index + 1, split="test")[index]
    return item["wave"].numpy(), item["name"]


@st.cache_data(show_spinner=False)
def spoken_word(word):
    """A bundled espeak-ng word (data/audio/WORD.wav) at 16 kHz."""
    wave, rate = read_wav((WORDS_DIR / f"{word}.wav").read_bytes())
    return resample(wave, rate, SAMPLE_RATE)


def decode_upload(data):
    """Uploaded bytes → (wave at 16 kHz as float32 numpy, None) or (None, one sentence)."""
    try:
        wave, rate = read_wav(data, max_seconds=MAX_SECONDS)
    except AudioError as err:
        return None, str(err)
    if len(wave) < rate * 0.1:
        return None, "The recording is shorter than 0.1 s: upload a longer one."
    return resample(wave, rate, SAMPLE_RATE), None


def pick_sound():
    """Sample or upload → (wave numpy at 16 kHz or None, caption)."""
    words = sorted(p.stem for p in WORDS_DIR.glob("*.wav"))
    sources = ["Synthetic sample"] + (["Spoken word"] if words else []) + ["Upload a WAV"]
    source = st.radio("Sound", sources, horizontal=True)
    if source == "Spoken word":
        word = st.selectbox("Word (espeak-ng)", words)
        st.caption("The classifier only knows the nine synthetic classes: on speech it can only guess.")
        return spoken_word(word), f"the spoken word '{word}'"
    if source == "Upload a WAV":
        upload = st.file_uploader(f"WAV file (PCM, at most {MAX_SECONDS:g} s)", type=None)
        if upload is None:
            st.info("Upload a .wav recording, or pick a synthetic sample.")
            return None, ""
        wave, error = decode_upload(upload.getvalue())
        if error:
            show_error(error)
            return None, ""
        return wave, f"your upload ({len(wave) / SAMPLE_RATE:.1f} s)"
    names = st.selectbox("Class", CLASSES, index=1)
    variant = st.slider("Variant", 0, 9, 0)
    wave, name = sample_clip(CLASSES.index(names) + len(CLASSES) * variant)
    return wave, f"a held-out '{name}' clip"


def show(fig):
    st.pyplot(fig, clear_figure=True)
    plt.close(fig)


def show_classifier(spec):
    """Class probabilities of the bundled AST and its [CLS] attention over the patches."""
    model, reason = load_model()
    if model is None:
        st.info(f"The bundled classifier is not available ({reason})")
        return
    with torch.no_grad():
        probs = model(spec[None]).softmax(-1)[0]  # (classes,)
        attn = model.cls_attention_map(spec[None])[0]  # (f_dim, t_dim)
    left, right = st.columns(2)
    with left:
        show(viz.plot_class_probs(probs, CLASSES).figure)
    with right:
        show(viz.plot_attention(spec, attn, model.config, title="Where [CLS] looks (last layer)").figure)
    best = int(probs.argmax())
    st.write(f"The model hears **{CLASSES[best]}** ({probs[best]:.0%}).")


def main():
    st.title("Spectrograms: audio as a vision problem")
    st.caption("Waveform → STFT → mel → log → 16×16 patches with stride 10 → transformer (AST).")
    wave, caption = pick_sound()
    if wave is None:
        return
    st.audio(wave, sample_rate=SAMPLE_RATE)
    x = torch.from_numpy(np.ascontiguousarray(wave))
    window = pitch.loudest_window(x, SAMPLE_RATE)  # the model hears the loudest second
    f0 = float(pitch.estimate_f0(window, SAMPLE_RATE))
    a, b, c = st.columns(3)
    a.metric("Length", f"{len(wave) / SAMPLE_RATE:.2f} s")
    b.metric("Peak energy per frame", f"{float(spectrogram.frame_energy_db(window).max()):.1f} dB")
    c.metric("Estimated f0", f"{f0:.0f} Hz", help="Harmonic product spectrum of the loudest second.")
    st.subheader(f"Waveform and spectrogram of {caption}")
    left, right = st.columns(2)
    with left:
        show(viz.plot_waveform(x).figure)
    with right:
        show(viz.plot_spectrogram(x).figure)
    log_mel = spectrogram.log_mel_spectrogram(window)  # (128, 101)
    st.subheader("The loudest second: log-mel spectrogram and the transformer's patches")
    left, right = st.columns(2)
    with left:
        show(viz.plot_mel(log_mel).figure)
    with right:
        show(viz.plot_patch_grid(log_mel).figure)
    st.subheader("Classification")
    show_classifier(spectrogram.model_input(window))


main()
