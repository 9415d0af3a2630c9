"""Audio as a vision problem: spectrograms from scratch, and a transformer over spectrogram patches.

    waveform (B, T)
      → frames (B, n_frames, n_fft)        cut with a hop, multiplied by a window
      → STFT (B, n_fft/2+1, n_frames)      one FFT per frame (equals torch.stft)
      → power |X|² → mel (B, n_mels, n_frames)   triangular filters, a perceptual frequency axis
      → log (dB)                           loudness is perceived logarithmically
      → AST: 16×16 patches with stride 10 (overlapping), [CLS], ViT blocks, head

The AST (Gong et al. 2021, "AST: Audio Spectrogram Transformer") treats the log-mel spectrogram
as a one-channel image: frequency runs down the rows, time along the columns. `ast_from_vit`
starts it from image ViT weights, the paper's trick. State-dict keys follow timm/DINO ViTs
(`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`, `norm.*`, `head.*`).
"""

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.blocks import Block
from course_lib.positions import resize_grid_table
from course_lib.train import Recipe, TrainConfig, TrainError, register_recipe
from course_lib.vit import drop_path_rates, init_vit_weights

# -- spectrograms from scratch -------------------------------------------------------------------


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


# -- the audio spectrogram transformer ------------------------------------------------------------


@dataclass
class ASTConfig:
    n_mels: int = 128  # input rows (frequency)
    n_frames: int = 101  # input columns (time): 1 s at a 10 ms hop
    patch_size: int = 16
    fstride: int = 10  # patches overlap by 6 bins in frequency ...
    tstride: int = 10  # ... and by 6 frames in time
    num_classes: int = 9
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    fused_attn: bool = False

    @property
    def grid_size(self):
        """(f_dim, t_dim) patches along frequency and time."""
        f_dim = (self.n_mels - self.patch_size) // self.fstride + 1
        t_dim = (self.n_frames - self.patch_size) // self.tstride + 1
        return f_dim, t_dim


class OverlappingPatchEmbed(nn.Module):
    """A one-channel conv with kernel p and stride (fstride, tstride) < p: overlapping patches."""

    def __init__(self, patch_size, fstride, tstride, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=patch_size, stride=(fstride, tstride))

    def forward(self, spec):
        """spec: (B, n_mels, n_frames) → tokens (B, f_dim·t_dim, D), frequency-major order."""
        x = self.proj(spec.unsqueeze(1))  # (B, D, f_dim, t_dim)
        return x.flatten(2).transpose(1, 2)  # (B, L, D)


class AudioSpectrogramTransformer(nn.Module):
    def __init__(self, config: ASTConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or ASTConfig(), **overrides)
        self.config = cfg
        D = cfg.embed_dim
        f_dim, t_dim = cfg.grid_size
        if f_dim < 1 or t_dim < 1:
            raise ValueError(f"A {cfg.n_mels}×{cfg.n_frames} spectrogram is smaller than one patch.")
        self.patch_embed = OverlappingPatchEmbed(cfg.patch_size, cfg.fstride, cfg.tstride, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + f_dim * t_dim, D))
        rates = drop_path_rates(cfg.drop_path_rate, cfg.depth)
        self.blocks = nn.ModuleList(
            Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, rates[i], fused_attn=cfg.fused_attn)
            for i in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self):
        init_vit_weights(self)  # the same initialization as the image ViT

    def prepare_tokens(self, spec):
        """Log-mel (B, n_mels, n_frames) → [CLS] + patch tokens with positions (B, 1 + L, D)."""
        B, M, T = spec.shape
        cfg = self.config
        if (M, T) != (cfg.n_mels, cfg.n_frames):
            raise ValueError(f"Expected a {cfg.n_mels}×{cfg.n_frames} log-mel spectrogram, got {M}×{T}.")
        tokens = self.patch_embed(spec)  # (B, L, D)
        cls = self.cls_token.expand(B, -1, -1)  # (B, 1, D)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed  # (B, 1 + L, D)

    def forward_features(self, spec):
        """(B, n_mels, n_frames) → normalized tokens (B, 1 + L, D); token 0 is [CLS]."""
        x = self.prepare_tokens(spec)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, spec):
        """(B, n_mels, n_frames) → logits (B, num_classes) from the [CLS] token."""
        return self.head(self.forward_features(spec)[:, 0])

    def get_selfattention(self, spec):
        """Every layer's attention: a list of `depth` tensors (B, heads, N, N), N = 1 + L."""
        x = self.prepare_tokens(spec)
        maps = []
        for blk in self.blocks:
            x, attn = blk(x, return_attention=True)
            maps.append(attn)
        return maps

    def get_last_selfattention(self, spec):
        """The last layer's attention (B, heads, N, N)."""
        return self.get_selfattention(spec)[-1]

    def cls_attention_map(self, spec):
        """The last layer's [CLS]→patch attention, averaged over heads, as a (B, f_dim, t_dim) grid."""
        attn = self.get_last_selfattention(spec)  # (B, heads, N, N)
        f_dim, t_dim = self.config.grid_size
        return attn[:, :, 0, 1:].mean(1).reshape(-1, f_dim, t_dim)  # (B, f_dim, t_dim)


PRESETS = {
    "mini": dict(embed_dim=64, depth=4, num_heads=4),  # the bundled classifier, CPU-trainable
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),  # AST's "tiny224" (DeiT-Ti)
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "base": dict(embed_dim=768, depth=12, num_heads=12),  # the paper's model (DeiT-B, no dist token)
}


def make_ast(preset, **overrides):
    """Build a preset AST; `overrides` are any `ASTConfig` fields (n_frames=, num_classes=, ...)."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown AST preset {preset!r}: choose one of {sorted(PRESETS)}.")
    return AudioSpectrogramTransformer(ASTConfig(**{**PRESETS[preset], **overrides}))


def ast_mini(**overrides):
    return make_ast("mini", **overrides)


def ast_tiny(**overrides):
    return make_ast("tiny", **overrides)


def ast_small(**overrides):
    return make_ast("small", **overrides)


def ast_base(**overrides):
    return make_ast("base", **overrides)


def ast_from_vit(vit, **overrides):
    """The AST trick: start an audio transformer from an image ViT's weights.

    1. The patch kernel (D, 3, p, p) is summed over RGB → (D, 1, p, p): a grey image with the same
       value v in every channel then gives the same response as the RGB model did.
    2. The square positional table is resized (bicubic) to the (f_dim × t_dim) grid of the
       spectrogram; the [CLS] row is kept.
    3. The blocks and the final norm are copied as they are; the head is new.

    Args:
        vit: a `course_lib.vit.VisionTransformer` (patch size p = the AST's patch size).
        overrides: `ASTConfig` fields (n_frames=, num_classes=, strides ...).
    Returns:
        an `AudioSpectrogramTransformer`, loaded strictly except for the new head.
    """
    vcfg = vit.config
    cfg = ASTConfig(patch_size=vcfg.patch_size, embed_dim=vcfg.embed_dim, depth=vcfg.depth,
                    num_heads=vcfg.num_heads, mlp_ratio=vcfg.mlp_ratio, qkv_bias=vcfg.qkv_bias)
    model = AudioSpectrogramTransformer(replace(cfg, **overrides))
    state = {k: v for k, v in vit.state_dict().items() if not k.startswith("head.")}
    state["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].sum(1, keepdim=True)  # (D, 1, p, p)
    state["pos_embed"] = resize_grid_table(state["pos_embed"], model.config.grid_size)  # (1, 1+L, D)
    missing, unexpected = model.load_state_dict(state, strict=False)
    expected_missing = {k for k in model.state_dict() if k.startswith("head.")}
    if set(missing) != expected_missing or unexpected:
        raise RuntimeError(f"ViT → AST transfer: missing {missing}, unexpected {unexpected}.")
    return model


# -- training recipe: `python -m course_lib.train ast` -----------------------------------------


@dataclass
class ASTTrainConfig(TrainConfig):
    preset: str = "mini"  # an entry of PRESETS
    from_vit: str = ""  # a load_pretrained name: start from that image ViT (the AST trick)
    train_size: int = 44800  # synthetic clips; item i is fixed, so more items = more variety
    val_size: int = 900
    epochs: float = 1.0
    batch_size: int = 64
    lr: float = 1e-3
    warmup_epochs: float = 0.05


@register_recipe("ast")
class ASTRecipe(Recipe):
    """Supervised AST on AudioClips: log-mel of 1 s at 16 kHz → 9 sound classes."""

    Config = ASTTrainConfig

    def build_model(self, cfg):
        from course_lib.data.audio_clips import CLASSES

        if cfg.from_vit:
            from course_lib.checkpoints import load_pretrained
            from course_lib.vit import VisionTransformer

            vit = load_pretrained(cfg.from_vit)
            if not isinstance(vit, VisionTransformer):
                raise TrainError(f"--from-vit {cfg.from_vit} is a {type(vit).__name__}, not an image "
                                 "ViT: choose a ViT checkpoint (for example dino_vits16).")
            return ast_from_vit(vit, num_classes=len(CLASSES))
        if cfg.preset not in PRESETS:
            raise TrainError(f"Unknown --preset {cfg.preset!r}: choose one of {sorted(PRESETS)}.")
        return make_ast(cfg.preset, num_classes=len(CLASSES))

    def build_data(self, cfg):
        from course_lib.data.audio_clips import AudioClips

        return AudioClips(cfg.train_size, cfg.seed, "train"), AudioClips(cfg.val_size, cfg.seed, "val")

    def collate(self, items):
        waves = torch.stack([it["wave"] for it in items])  # (B, T)
        return {"spec": model_input(waves), "label": torch.tensor([it["label"] for it in items])}

    def training_step(self, model, batch, ctx):
        logits = model(batch["spec"])  # (B, classes)
        loss = F.cross_entropy(logits, batch["label"])
        return loss, {"top1": (logits.argmax(-1) == batch["label"]).float().mean().item()}

    def evaluate(self, model, val, ctx):
        """Accuracy on the validation split and on the held-out test split (never trained on)."""
        from course_lib.data.audio_clips import AudioClips

        test = AudioClips(len(val), ctx.cfg.seed, "test")
        return {"val_top1": clip_accuracy(model, val, ctx.device),
                "test_top1": clip_accuracy(model, test, ctx.device)}

    def card(self, model, cfg):
        from course_lib.data.audio_clips import CLASSES

        return {"model": {"factory": "course_lib.audio:AudioSpectrogramTransformer",
                          "kwargs": asdict(model.config)},
                "input": {"sample_rate": 16000, "seconds": 1.0, "classes": list(CLASSES),
                          "spectrogram": asdict(SpectrogramConfig()),
                          "features": "course_lib.audio:model_input"}}


@torch.no_grad()
def clip_accuracy(model, clips, device="cpu", batch_size=100):
    """Top-1 accuracy of an AST classifier on a dataset of AudioClips-style items."""
    correct = 0
    for start in range(0, len(clips), batch_size):
        items = [clips[i] for i in range(start, min(start + batch_size, len(clips)))]
        spec = model_input(torch.stack([it["wave"] for it in items])).to(device)  # (B, mels, frames)
        labels = torch.tensor([it["label"] for it in items], device=device)
        correct += (model(spec).argmax(-1) == labels).sum().item()
    return correct / len(clips)
