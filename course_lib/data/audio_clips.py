"""AudioClips: a deterministic synthetic audio set, and WAV files in and out (stdlib `wave` only).

Nine classes of one-second sounds, each a pure function of (seed, split, index):

    pure_tone      one sine                      chirp_up / chirp_down   exponential sweeps
    harmonic_tone  f0 and its harmonics          am_tone        a tone whose loudness pulses
    chord          three sines, a major/minor triad   fm_tone   a tone with vibrato
    noise_burst    band-limited noise            click_train    regular clicks

Each clip has a random pitch, onset, length, loudness and background noise (white or pink) at a
random signal-to-noise ratio. In a spectrogram every class has its own picture: horizontal lines
(tones, harmonics, chords), rising or falling curves (chirps), dashes (AM), waves (FM), a band
(noise), vertical lines (clicks). That is why a vision model can classify them.
"""

import hashlib
import io
import os
import wave as wavelib

import numpy as np
import torch
from torch.utils.data import Dataset

CLASSES = ("pure_tone", "harmonic_tone", "chord", "chirp_up", "chirp_down", "am_tone", "fm_tone",
           "noise_burst", "click_train")
SPLITS = ("train", "val", "test")
SAMPLE_RATE = 16000
MAX_SECONDS = 10.0  # longest upload the app and `read_wav(max_seconds=...)` accept by default


def item_seed(seed, split, index):
    """A 64-bit seed from a hash of (seed, split, index): splits never share a random stream."""
    digest = hashlib.blake2b(f"audioclips/{seed}/{split}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def loguniform(rng, lo, hi):
    """A draw uniform in log-frequency: as many octaves low as high."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# -- one generator per class: (rng, t) → signal, info; t is the event's time axis in seconds ----


def pure_tone(rng, t):
    f = loguniform(rng, 150, 3000)
    return np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)), {"f0": f}


def harmonic_tone(rng, t):
    f0 = loguniform(rng, 100, 600)
    tilt = rng.uniform(0.5, 1.5)  # harmonic k has amplitude 1/k^tilt: bright to dull timbres
    ks = [k for k in range(1, int(rng.integers(4, 11)) + 1) if k * f0 < 7500]
    x = sum(k**-tilt * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) for k in ks)
    return x, {"f0": f0}


def chord(rng, t):
    root = loguniform(rng, 150, 800)
    steps = (0, 4, 7) if rng.random() < 0.5 else (0, 3, 7)  # major or minor triad, in semitones
    freqs = [root * 2 ** (s / 12) for s in steps]
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    return x, {"f0": root}


def sweep(rng, t, up):
    """Exponential chirp: f(t) = f1·(f2/f1)^(t/L); its phase is the integral 2π∫f."""
    lo = loguniform(rng, 150, 1000)
    hi = min(lo * rng.uniform(2.5, 6.0), 7000.0)
    f1, f2 = (lo, hi) if up else (hi, lo)
    L = t[-1] + t[1]
    k = np.log(f2 / f1) / L
    return np.sin(2 * np.pi * f1 * (np.exp(k * t) - 1) / k), {"f0": f1}


def chirp_up(rng, t):
    return sweep(rng, t, up=True)


def chirp_down(rng, t):
    return sweep(rng, t, up=False)


def am_tone(rng, t):
    fc, rate, depth = loguniform(rng, 200, 2500), rng.uniform(4, 12), rng.uniform(0.7, 1.0)
    envelope = 1 - depth * (0.5 - 0.5 * np.cos(2 * np.pi * rate * t))
    return envelope * np.sin(2 * np.pi * fc * t), {"f0": fc}


def fm_tone(rng, t):
    fc, rate, depth = loguniform(rng, 250, 2000), rng.uniform(3, 8), rng.uniform(0.06, 0.15)
    # instantaneous frequency fc·(1 + depth·cos(2π rate t)), integrated into the phase
    phase = 2 * np.pi * fc * t + depth * fc / rate * np.sin(2 * np.pi * rate * t)
    return np.sin(phase), {"f0": fc}


def band_noise(rng, n, lo, hi, sample_rate=SAMPLE_RATE):
    """White noise with everything outside [lo, hi] Hz removed in the Fourier domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    return np.fft.irfft(spectrum, n)


def noise_burst(rng, t):
    lo = loguniform(rng, 200, 2000)
    return band_noise(rng, len(t), lo, min(lo * rng.uniform(2, 4), 7900)), {"f0": float("nan")}


def click_train(rng, t):
    rate = rng.uniform(4, 16)
    x = np.zeros(len(t))
    decay = np.exp(-np.arange(48) / 8.0)  # a 3 ms click
    for start in (np.arange(rng.uniform(0, 1 / rate), t[-1], 1 / rate) * SAMPLE_RATE).astype(int):
        click = decay[: len(x) - start] * rng.standard_normal(min(48, len(x) - start))
        x[start : start + len(click)] += click
    return x, {"f0": float("nan")}


GENERATORS = dict(zip(CLASSES, (pure_tone, harmonic_tone, chord, chirp_up, chirp_down, am_tone,
                                fm_tone, noise_burst, click_train)))


def fade(n, ramp):
    """A raised-cosine fade in and out over `ramp` samples: no click at the edges of the event."""
    env = np.ones(n)
    r = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    env[:ramp], env[n - ramp :] = r, r[::-1]
    return env


def pink_noise(rng, n):
    """1/f noise: white noise with its spectrum divided by √f (equal energy per octave)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    return np.fft.irfft(spectrum, n)


class AudioClips(Dataset):
    """Synthetic labelled clips.

    Args:
        size: number of items, `len(ds)`.
        seed: item i of a split is a pure function of (seed, split, i).
        split: "train", "val" or "test".
        duration: seconds per clip (1.0 → 16000 samples at 16 kHz).
        snr_db: (low, high) range of the signal-to-background-noise ratio.

    `ds[i]` is a dict: wave (T,) float32 tensor in [−1, 1]; label, the index in CLASSES; name;
    f0 (Hz of the pitch, the lowest chord note or the chirp's start; nan for noise and clicks);
    onset and offset of the event in seconds.
    """

    CLASSES = CLASSES
    SPLITS = SPLITS
    num_classes = len(CLASSES)

    def __init__(self, size, seed=0, split="train", duration=1.0, snr_db=(10.0, 30.0)):
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
        self.size, self.seed, self.split = int(size), seed, split
        self.sample_rate = SAMPLE_RATE
        self.n_samples = int(round(duration * SAMPLE_RATE))
        self.snr_db = snr_db

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if not 0 <= index < self.size:
            raise IndexError(f"Index {index} is out of range for AudioClips of {self.size} items.")
        x, info = self.synthesize(index)
        return {"wave": torch.from_numpy(x), **info}

    def synthesize(self, index):
        """Clip `index` as (float32 numpy (T,), info dict). Labels cycle through the classes."""
        rng = np.random.default_rng(item_seed(self.seed, self.split, index))
        label = index % len(CLASSES)  # balanced: every class equally often
        n = self.n_samples
        length = int(n * rng.uniform(0.4, 0.9))
        onset = int(rng.integers(0, n - length + 1))
        t = np.arange(length) / SAMPLE_RATE
        event, info = GENERATORS[CLASSES[label]](rng, t)
        event = event * fade(length, 160) / (np.abs(event).max() + 1e-12)  # peak 1, 10 ms fades
        x = np.zeros(n)
        x[onset : onset + length] = event
        noise = pink_noise(rng, n) if rng.random() < 0.5 else rng.standard_normal(n)
        snr = rng.uniform(*self.snr_db)
        event_rms = np.sqrt(np.mean(event**2))
        x += noise / np.sqrt(np.mean(noise**2)) * event_rms * 10 ** (-snr / 20)
        x *= 10 ** (rng.uniform(-24, -1) / 20) / np.abs(x).max()  # loudness: peak −24 … −1 dBFS
        info = {"label": label, "name": CLASSES[label], "f0": float(info["f0"]),
                "onset": onset / SAMPLE_RATE, "offset": (onset + length) / SAMPLE_RATE}
        return x.astype(np.float32), info


# -- WAV files ----------------------------------------------------------------------------------


class AudioError(ValueError):
    """An audio file this kit cannot use: one sentence saying what was wrong and what to do."""


def read_wav(source, max_seconds=MAX_SECONDS):
    """A PCM WAV file (path, bytes or file object) → (mono float32 numpy in [−1, 1], sample rate).

    Stereo is averaged to mono. 8-, 16-, 24- and 32-bit integer PCM are read.
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, os.PathLike):
        source = os.fspath(source)  # `wave.open` takes str paths and file objects only
    try:
        with wavelib.open(source, "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            limit = int(max_seconds * rate) + 1 if max_seconds else f.getnframes()
            raw = f.readframes(limit)  # the header's length may be a placeholder (streamed WAV)
    except (wavelib.Error, EOFError) as err:
        raise AudioError("This file is not a PCM WAV audio file: upload a .wav recording "
                         "(16-bit PCM works everywhere).") from err
    frames = len(raw) // (width * channels)
    if max_seconds and frames > max_seconds * rate:
        raise AudioError(f"The recording is longer than {max_seconds:g} s: use one of at most "
                         f"{max_seconds:g} s.")
    if frames == 0 or not raw:
        raise AudioError("The WAV file holds no samples: upload a recording that is not empty.")
    return pcm_to_float(raw, width, channels), rate


def pcm_to_float(raw, width, channels):
    """Interleaved little-endian PCM bytes → mono float32 in [−1, 1]."""
    if width == 3:  # 24-bit: widen every sample to 4 bytes, then read as int32
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        raw = np.concatenate([np.zeros((len(b), 1), np.uint8), b], axis=1).tobytes()
        width = 4
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    x = np.frombuffer(raw, dtype).astype(np.float64)
    x = (x - 128) / 128 if width == 1 else x / 2 ** (8 * width - 1)  # 8-bit WAV is unsigned
    return x.reshape(-1, channels).mean(axis=1).astype(np.float32)  # (frames,): channels averaged


def wav_bytes(x, sample_rate=SAMPLE_RATE):
    """Float samples (T,) in [−1, 1] → the bytes of a 16-bit mono WAV file."""
    pcm = (np.clip(np.asarray(x, np.float64), -1, 1) * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wavelib.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    return buffer.getvalue()


def resample(x, rate_in, rate_out=SAMPLE_RATE):
    """Band-limited resampling in the Fourier domain: keep (or zero-pad) the rfft up to the new
    Nyquist frequency. x: (T,) → (round(T · rate_out / rate_in),)."""
    if rate_in == rate_out:
        return np.asarray(x, np.float32)
    n_out = int(round(len(x) * rate_out / rate_in))
    spectrum = np.fft.rfft(x)[: n_out // 2 + 1]
    return (np.fft.irfft(spectrum, n_out) * n_out / len(x)).astype(np.float32)
