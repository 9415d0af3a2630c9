"""Pitch: the fundamental frequency f0 of a sound, from its spectrum (harmonic product spectrum).

    estimate_f0(wave, sr)    one f0 for a whole clip (or each clip of a batch)
    f0_track(wave, sr)       f0 frame by frame, nan where the frame is unvoiced
    loudest_window(wave, n)  the n-sample stretch with the most energy (what the classifier hears)
"""

import math

import torch
import torch.nn.functional as F

from course_lib.data.spectrogram import frame_signal, hann_window


def harmonic_product_spectrum(magnitude, n_harmonics=4):
    """HPS(k) = Π_h |X(h·k)|, h = 1..H: the harmonics of f0 all line up at bin k = f0's bin.

    magnitude: (..., n_freqs) → (..., n_freqs // H), in log (a sum of logs) for stability.
    """
    n = magnitude.shape[-1] // n_harmonics
    log_mag = torch.log(magnitude.clamp(min=1e-12))
    return sum(log_mag[..., : n * h : h][..., :n] for h in range(1, n_harmonics + 1))


def estimate_f0(wave, sample_rate, f_min=50.0, f_max=4000.0, n_harmonics=4, resolution_hz=0.5):
    """Fundamental frequency of a harmonic sound from its spectrum (harmonic product spectrum).

    The whole (Hann-windowed) clip is zero-padded so the FFT bins are `resolution_hz` apart; the
    HPS peak between f_min and f_max is the candidate. HPS can land an octave (or more) too low
    on sounds with few harmonics (a pure tone at f also lines up at f/2), so the f0 is the first
    multiple of the candidate that is itself loud: within 20 dB of the spectrum's peak (if none
    is, the sound has no harmonic series and the loudest peak is returned).

    Args:
        wave: (T,) or (B, T).
    Returns:
        float tensor (), or (B,), in Hz.
    """
    if wave.ndim == 2:
        return torch.stack([estimate_f0(w, sample_rate, f_min, f_max, n_harmonics, resolution_hz)
                            for w in wave])
    T = wave.shape[-1]
    n_fft = 2 ** math.ceil(math.log2(max(T, sample_rate / resolution_hz)))
    spectrum = torch.fft.rfft(wave * hann_window(T, wave.dtype), n=n_fft).abs()  # (n_fft/2+1,)
    hps = harmonic_product_spectrum(spectrum, n_harmonics)  # (n,)
    bin_hz = sample_rate / n_fft
    lo, hi = int(f_min / bin_hz), int(f_max / bin_hz) + 1
    k = lo + int(hps[lo:hi].argmax())  # the HPS covers f0 up to sample_rate / (2 · n_harmonics)
    for m in range(1, n_harmonics + 1):
        r = 2 * m + 2  # the m-th multiple carries m times the candidate's error of ± 1-2 bins
        start = max(m * k - r, 0)
        near = spectrum[start: m * k + r + 1]
        if near.max() >= 0.1 * spectrum.max():
            return torch.tensor((start + int(near.argmax())) * bin_hz)
    return (lo + spectrum[lo:hi].argmax()).float() * bin_hz  # no harmonic series: the loudest peak


def f0_track(wave, sample_rate, frame_length=1024, hop_length=320, f_max=400.0, quiet_db=25.0):
    """Pitch over time: `estimate_f0` on each frame of (T,), nan where the frame is unvoiced.

    A frame counts as voiced when it is within `quiet_db` of the loudest frame and most of its
    energy lies below 1 kHz (voiced speech does; noise like "s" does not).
    Returns (times (n,) in s, f0 (n,) in Hz).
    """
    frames = frame_signal(wave, frame_length, hop_length)  # (n, frame_length)
    energy = frames.pow(2).mean(-1)  # (n,)
    power = torch.fft.rfft(frames * hann_window(frame_length, wave.dtype)).abs() ** 2  # (n, F)
    low = power[:, : int(1000 * frame_length / sample_rate)].sum(-1) / power.sum(-1).clamp(min=1e-20)
    voiced = (10 * torch.log10(energy / energy.max().clamp(min=1e-20)) > -quiet_db) & (low > 0.5)
    f0 = torch.stack([estimate_f0(f, sample_rate, f_max=f_max, resolution_hz=2.0) for f in frames])
    times = (torch.arange(len(frames)) * hop_length + frame_length / 2) / sample_rate
    return times, torch.where(voiced, f0, torch.full_like(f0, float("nan")))


def loudest_window(wave, length, hop=1600):
    """The `length`-sample window of (T,) with the most energy; zero-padded if T < length."""
    if wave.shape[-1] <= length:
        return F.pad(wave, (0, length - wave.shape[-1]))
    frames = frame_signal(wave, length, hop)  # (n, length)
    return frames[frames.pow(2).sum(-1).argmax()]
