"""Spectrograms from scratch: a waveform becomes a one-channel image (the AST's front end).

    waveform (B, T)
      → frames (B, n_frames, n_fft)        cut with a hop, multiplied by a window
      → STFT (B, n_fft/2+1, n_frames)      one FFT per frame (equals torch.stft)
      → power |X|² → mel (B, n_mels, n_frames)   triangular filters, a perceptual frequency axis
      → log (dB)                           loudness is perceived logarithmically

Each step is checked against its reference in tests/test_audio.py: `torch.stft`, transformers'
`mel_filter_bank` and `spectrogram`. `model_input` is what the audio spectrogram transformer
(course_lib.audio) reads: 1 s at 16 kHz → a (128 mels × 101 frames) log-mel in [−1, 1].
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def hann_window(length, dtype=torch.float32):
    """Periodic Hann window w[n] = 0.5 − 0.5·cos(2πn/N), n = 0..N−1 (equals torch.hann_window)."""
    n = torch.arange(length, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * n / length)).to(dtype)


def frame_signal(x, frame_length, hop_length):
    """Cut a signal into overlapping frames.

    Args:
        x: (..., T) samples.
    Returns:
        (..., n_frames, frame_length), n_frames = 1 + (T − frame_length) // hop_length;
        frame f holds samples [f·hop, f·hop + frame_length).
    """
    T = x.shape[-1]
    if T < frame_length:
        raise ValueError(f"The signal has {T} samples, fewer than one frame of {frame_length}.")
    n_frames = 1 + (T - frame_length) // hop_length
    starts = hop_length * torch.arange(n_frames)  # (n_frames,)
    index = starts[:, None] + torch.arange(frame_length)[None, :]  # (n_frames, frame_length)
    return x[..., index]  # (..., n_frames, frame_length)


def stft(x, n_fft, hop_length, win_length=None, window=None, center=True):
    """Short-time Fourier transform, equal to `torch.stft(..., return_complex=True)`.

    Steps: pad by n_fft/2 on both sides (reflect) so frame f is centred on sample f·hop, cut into
    frames, multiply by the window (zero-padded to n_fft, centred), one real FFT per frame.

    Args:
        x: (T,) or (B, T) waveform.
        window: (win_length,); default a periodic Hann window of `win_length` (default n_fft).
    Returns:
        complex (n_fft/2+1, n_frames) or (B, n_fft/2+1, n_frames).
    """
    win_length = win_length or n_fft
    window = hann_window(win_length, x.dtype) if window is None else window
    left = (n_fft - win_length) // 2
    window = F.pad(window.to(x.dtype), (left, n_fft - win_length - left))  # (n_fft,)
    if center:
        batch = x.reshape(-1, 1, x.shape[-1])  # (B, 1, T): reflect padding wants a channel axis
        x = F.pad(batch, (n_fft // 2, n_fft // 2), mode="reflect").reshape(*x.shape[:-1], -1)
    frames = frame_signal(x, n_fft, hop_length) * window  # (..., n_frames, n_fft)
    spec = torch.fft.rfft(frames, dim=-1)  # (..., n_frames, n_fft/2+1)
    return spec.transpose(-2, -1)  # (..., n_fft/2+1, n_frames)


def hz_to_mel(freq, mel_scale="htk"):
    """Hertz → mel. "htk": 2595·log10(1 + f/700). "slaney": linear below 1 kHz, log above.
    "kaldi": 1127·ln(1 + f/700)."""
    freq = torch.as_tensor(freq, dtype=torch.float64)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    if mel_scale == "kaldi":
        return 1127.0 * torch.log(1.0 + freq / 700.0)
    if mel_scale != "slaney":
        raise ValueError(f"Unknown mel scale {mel_scale!r}: choose 'htk', 'slaney' or 'kaldi'.")
    logstep = 27.0 / math.log(6.4)  # 27 mels per factor 6.4 above 1 kHz
    log_part = 15.0 + torch.log(freq.clamp(min=1e-10) / 1000.0) * logstep
    return torch.where(freq >= 1000.0, log_part, 3.0 * freq / 200.0)


def mel_to_hz(mels, mel_scale="htk"):
    """Mel → hertz, the inverse of `hz_to_mel`."""
    mels = torch.as_tensor(mels, dtype=torch.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    if mel_scale == "kaldi":
        return 700.0 * (torch.exp(mels / 1127.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError(f"Unknown mel scale {mel_scale!r}: choose 'htk', 'slaney' or 'kaldi'.")
    log_part = 1000.0 * torch.exp(math.log(6.4) / 27.0 * (mels - 15.0))
    return torch.where(mels >= 15.0, log_part, 200.0 * mels / 3.0)


def mel_filter_bank(n_freqs, n_mels, f_min, f_max, sample_rate, norm=None, mel_scale="htk"):
    """Triangular mel filters, the layout of transformers' `audio_utils.mel_filter_bank`.

    n_mels + 2 points equally spaced in mel give the filters' edges; filter m rises linearly from
    point m to point m+1 and falls to point m+2 (in Hz). norm="slaney" divides each triangle by
    its width in Hz (2 / (f_{m+2} − f_m)) so every filter has the same area.

    Returns:
        (n_freqs, n_mels) float32: mel = power_spectrum.T @ filters.
    """
    if norm not in (None, "slaney"):
        raise ValueError(f"Unknown norm {norm!r}: choose None or 'slaney'.")
    mel_edges = torch.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2,
                               dtype=torch.float64)
    hz_edges = mel_to_hz(mel_edges, mel_scale)  # (n_mels + 2,)
    fft_freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)  # (n_freqs,)
    slopes = hz_edges[None, :] - fft_freqs[:, None]  # (n_freqs, n_mels + 2)
    widths = hz_edges.diff()  # (n_mels + 1,)
    rising = -slopes[:, :-2] / widths[:-1]  # (n_freqs, n_mels): 0 at the left edge, 1 at the centre
    falling = slopes[:, 2:] / widths[1:]  # (n_freqs, n_mels): 1 at the centre, 0 at the right edge
    filters = torch.minimum(rising, falling).clamp(min=0.0)
    if norm == "slaney":
        filters = filters * (2.0 / (hz_edges[2:] - hz_edges[:-2]))[None, :]
    return filters.float()


def power_to_db(power, amin=1e-10, ref=1.0, top_db=None):
    """10·log10(max(power, amin) / ref); with `top_db`, clip at (max − top_db) per spectrogram."""
    db = 10.0 * torch.log10(power.clamp(min=amin)) - 10.0 * math.log10(max(ref, amin))
    if top_db is not None:
        floor = db.amax(dim=(-2, -1), keepdim=True) - top_db  # one floor per spectrogram
        db = torch.maximum(db, floor)
    return db


@dataclass
class SpectrogramConfig:
    """The front end of the AST: 1 s at 16 kHz → (128 mels × 101 frames)."""

    sample_rate: int = 16000
    n_fft: int = 1024  # 64 ms frames: 15.6 Hz bins, fine enough for 128 mels down to 0 Hz
    hop_length: int = 160  # 10 ms, as in AST
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 8000.0
    mel_scale: str = "htk"  # transformers' default: mel_filter_bank(norm=None, mel_scale="htk")
    norm: str | None = None
    top_db: float = 80.0


def mel_spectrogram(wave, cfg: SpectrogramConfig | None = None):
    """Waveform (..., T) → mel power spectrogram (..., n_mels, n_frames)."""
    cfg = cfg or SpectrogramConfig()
    spec = stft(wave, cfg.n_fft, cfg.hop_length)  # (..., n_freqs, n_frames) complex
    power = spec.abs() ** 2
    filters = mel_filter_bank(cfg.n_fft // 2 + 1, cfg.n_mels, cfg.f_min, cfg.f_max, cfg.sample_rate,
                              cfg.norm, cfg.mel_scale).to(power.dtype)  # (n_freqs, n_mels)
    return (power.transpose(-2, -1) @ filters).transpose(-2, -1)  # (..., n_mels, n_frames)


def log_mel_spectrogram(wave, cfg: SpectrogramConfig | None = None):
    """Waveform (..., T) → log-mel in dB relative to the loudest bin, in [−top_db, 0]."""
    cfg = cfg or SpectrogramConfig()
    db = power_to_db(mel_spectrogram(wave, cfg), top_db=cfg.top_db)
    return db - db.amax(dim=(-2, -1), keepdim=True)


def model_input(wave, cfg: SpectrogramConfig | None = None):
    """Waveform (..., T) → the AST's input: log-mel scaled from [−top_db, 0] dB to [−1, 1].

    Relative dB make the classifier loudness-invariant; the scaling keeps inputs near unit size.
    """
    cfg = cfg or SpectrogramConfig()
    return log_mel_spectrogram(wave, cfg) / (cfg.top_db / 2) + 1.0


def frame_energy_db(wave, frame_length=400, hop_length=160):
    """Energy of each frame, 10·log10(mean(x²)), (..., T) → (..., n_frames) dB."""
    frames = frame_signal(wave, frame_length, hop_length)  # (..., n_frames, frame_length)
    return 10.0 * torch.log10(frames.pow(2).mean(-1).clamp(min=1e-10))
