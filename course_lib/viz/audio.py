"""Figures for audio as a vision problem: waveform, spectrograms, mel filters, patches, attention.

All matplotlib; each function returns the Figure (or draws into a given Axes and returns it).
matplotlib is imported inside the functions, so importing this module is cheap.
"""

import torch

from course_lib.audio import ASTConfig
from course_lib.data.pitch import estimate_f0, f0_track
from course_lib.data.spectrogram import SpectrogramConfig, frame_energy_db, power_to_db, stft


def _axes(ax, figsize=(7, 2.6)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def plot_waveform(wave, sample_rate=16000, ax=None, title="Waveform"):
    """Amplitude against time in seconds."""
    fig, ax = _axes(ax)
    wave = torch.as_tensor(wave).float()
    t = torch.arange(len(wave)) / sample_rate
    ax.plot(t.numpy(), wave.numpy(), lw=0.6, color="tab:blue")
    ax.set(xlabel="time (s)", ylabel="amplitude", title=title, xlim=(0, len(wave) / sample_rate))
    return ax


def _image(ax, db, extent, title, ylabel, cmap="magma"):
    im = ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap=cmap,
                   vmin=float(db.max()) - 80, vmax=float(db.max()))
    ax.set(xlabel="time (s)", ylabel=ylabel, title=title)
    ax.figure.colorbar(im, ax=ax, label="dB", pad=0.01)
    return ax


def plot_spectrogram(wave, sample_rate=16000, n_fft=1024, hop_length=160, ax=None, title="Spectrogram"):
    """Linear-frequency power spectrogram in dB: |STFT|² on a 0 … sample_rate/2 axis."""
    fig, ax = _axes(ax)
    db = power_to_db(stft(torch.as_tensor(wave).float(), n_fft, hop_length).abs() ** 2)  # (F, frames)
    extent = (0, db.shape[1] * hop_length / sample_rate, 0, sample_rate / 2)
    return _image(ax, db.numpy(), extent, title, "frequency (Hz)")


def plot_mel(log_mel, cfg: SpectrogramConfig | None = None, ax=None, title="Log-mel spectrogram"):
    """A log-mel (n_mels, frames) in dB; the rows are mel bins (low pitch at the bottom)."""
    cfg = cfg or SpectrogramConfig()
    fig, ax = _axes(ax)
    db = torch.as_tensor(log_mel).float()
    extent = (0, db.shape[1] * cfg.hop_length / cfg.sample_rate, 0, db.shape[0])
    return _image(ax, db.numpy(), extent, title, "mel bin")


def plot_mel_filters(filters, sample_rate=16000, every=8, ax=None):
    """The triangular mel filters (n_freqs, n_mels) over frequency: narrow low, wide high."""
    fig, ax = _axes(ax)
    filters = torch.as_tensor(filters)
    freqs = torch.linspace(0, sample_rate / 2, filters.shape[0])
    for m in range(0, filters.shape[1], every):
        ax.plot(freqs.numpy(), filters[:, m].numpy(), lw=1)
    title = f"Mel filters (every {every}th of {filters.shape[1]})"
    ax.set(xlabel="frequency (Hz)", ylabel="weight", title=title)
    return ax


def plot_patch_grid(spec, ast_cfg: ASTConfig | None = None, ax=None, highlight=(0, 0), title=None):
    """The AST's view: 16×16 patches with stride 10, so neighbours overlap by 6 bins.

    Every patch's top-left corner is marked; the patch `highlight` (row, column) and its right and
    upper neighbours are drawn as rectangles to show the overlap.
    """
    import matplotlib.patches as mpatches

    cfg = ast_cfg or ASTConfig()
    fig, ax = _axes(ax)
    spec = torch.as_tensor(spec).float()
    ax.imshow(spec.numpy(), origin="lower", aspect="auto", cmap="magma")
    f_dim, t_dim = cfg.grid_size
    rows = torch.arange(f_dim) * cfg.fstride
    cols = torch.arange(t_dim) * cfg.tstride
    grid_t, grid_f = torch.meshgrid(cols, rows, indexing="xy")
    ax.scatter(grid_t.flatten().numpy() - 0.5, grid_f.flatten().numpy() - 0.5, s=6, c="white")
    r, c = highlight
    for (dr, dc), color in zip([(0, 0), (0, 1), (1, 0)], ["cyan", "lime", "yellow"]):
        if r + dr < f_dim and c + dc < t_dim:
            xy = ((c + dc) * cfg.tstride - 0.5, (r + dr) * cfg.fstride - 0.5)
            ax.add_patch(mpatches.Rectangle(xy, cfg.patch_size, cfg.patch_size, fill=False, lw=2, ec=color))
    ax.set(xlabel="frame", ylabel="mel bin",
           title=title or f"{f_dim}×{t_dim} = {f_dim * t_dim} patches of {cfg.patch_size}×{cfg.patch_size}, "
                          f"stride {cfg.fstride}")
    return ax


def plot_class_probs(probs, classes, ax=None, title="Class probabilities"):
    """Horizontal bars, most likely class on top."""
    fig, ax = _axes(ax, figsize=(5, 3))
    probs = torch.as_tensor(probs).float()
    order = probs.argsort()
    ax.barh([classes[i] for i in order.tolist()], probs[order].numpy(), color="tab:orange")
    ax.set(xlim=(0, 1), xlabel="probability", title=title)
    return ax


def plot_attention(spec, attn_grid, ast_cfg: ASTConfig | None = None, ax=None, title="[CLS] attention"):
    """The [CLS] token's attention over the patches, upsampled onto the spectrogram.

    attn_grid: (f_dim, t_dim). Each patch's weight is spread over the 16×16 area it covers
    (overlaps are averaged), then drawn over the spectrogram.
    """
    cfg = ast_cfg or ASTConfig()
    fig, ax = _axes(ax)
    spec = torch.as_tensor(spec).float()
    heat = attention_on_spectrogram(attn_grid, spec.shape, cfg)
    ax.imshow(spec.numpy(), origin="lower", aspect="auto", cmap="gray")
    ax.imshow(heat.numpy(), origin="lower", aspect="auto", cmap="inferno", alpha=0.6)
    ax.set(xlabel="frame", ylabel="mel bin", title=title)
    return ax


def attention_on_spectrogram(attn_grid, shape, cfg: ASTConfig):
    """(f_dim, t_dim) patch weights → (n_mels, frames): each pixel averages the patches covering it."""
    M, T = shape
    total, count = torch.zeros(M, T), torch.zeros(M, T)
    p = cfg.patch_size
    for i in range(attn_grid.shape[0]):
        for j in range(attn_grid.shape[1]):
            f, t = i * cfg.fstride, j * cfg.tstride
            total[f:f + p, t:t + p] += attn_grid[i, j]
            count[f:f + p, t:t + p] += 1
    return total / count.clamp(min=1)


def plot_energy_and_pitch(wave, sample_rate=16000, title=""):
    """Energy per frame (dB) over time, and the spectrum with the estimated f0 and its harmonics."""
    import matplotlib.pyplot as plt

    wave = torch.as_tensor(wave).float()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 2.8), layout="constrained")
    energy = frame_energy_db(wave)
    a.plot((torch.arange(len(energy)) * 160 / sample_rate).numpy(), energy.numpy())
    a.set(xlabel="time (s)", ylabel="energy (dB)", title="Energy per 25 ms frame")
    f0 = float(estimate_f0(wave, sample_rate))
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    freqs = torch.fft.rfftfreq(len(wave), 1 / sample_rate)
    b.plot(freqs.numpy(), (20 * torch.log10(spectrum.clamp(min=1e-8))).numpy(), lw=0.6)
    for k in range(1, 9):
        if k * f0 < min(4000, sample_rate / 2):
            b.axvline(k * f0, color="tab:red", lw=0.8, ls="--" if k > 1 else "-")
    b.set(xlim=(0, 4000), xlabel="frequency (Hz)", ylabel="magnitude (dB)",
          title=f"Spectrum: f0 ≈ {f0:.1f} Hz (red) and its harmonics")
    if title:
        fig.suptitle(title)
    return fig


def plot_pipeline(wave, log_mel, sample_rate=16000, ast_cfg: ASTConfig | None = None, title=""):
    """Four panels: waveform → spectrogram → log-mel → the AST's patch grid."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 6), layout="constrained")
    plot_waveform(wave, sample_rate, ax=axes[0, 0])
    plot_spectrogram(wave, sample_rate, ax=axes[0, 1])
    plot_mel(log_mel, ax=axes[1, 0])
    plot_patch_grid(log_mel, ast_cfg, ax=axes[1, 1])
    if title:
        fig.suptitle(title)
    return fig


def plot_pitch_track(wave, sample_rate=16000, title=""):
    """Speech: the spectrogram up to 2 kHz with the f0 track drawn on it, and the energy per frame."""
    import matplotlib.pyplot as plt

    wave = torch.as_tensor(wave).float()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 2.8), layout="constrained")
    plot_spectrogram(wave, sample_rate, ax=a, title="Spectrogram and f0 track (cyan)")
    times, f0 = f0_track(wave, sample_rate)
    a.plot(times.numpy(), f0.numpy(), "o-", color="cyan", ms=3)
    a.set_ylim(0, 2000)
    energy = frame_energy_db(wave)
    b.plot((torch.arange(len(energy)) * 160 / sample_rate).numpy(), energy.numpy())
    b.set(xlabel="time (s)", ylabel="energy (dB)", title="Energy per 25 ms frame")
    if title:
        fig.suptitle(title)
    return fig
