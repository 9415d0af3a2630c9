"""DINO (Caron et al. 2021): self-distillation with no labels, and DINOv2's ingredients.

    two global + several local crops of one image
      → student = MultiCropWrapper(ViT, DINOHead)        every crop    → (n_crops·B, K)
      → teacher = EMA copy of the student, no gradient    global crops  → (2·B, K)
      → DINOLoss: teacher centred (−c) and sharpened (τ_t = 0.04), student at τ_s = 0.1,
        cross-entropy over every (teacher view, other student view) pair

Key names follow the official checkpoints: the head has `mlp.0/2/4` and a weight-normalized
`last_layer` saved as `weight_g`/`weight_v`; a wrapped model has `backbone.*` and `head.*`.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from course_lib.losses import dino_loss, koleo_loss

# The old `nn.utils.weight_norm` saved these names; the parametrization API saves the others.
OLD_TO_NEW_WEIGHT_NORM = {
    "last_layer.weight_g": "last_layer.parametrizations.weight.original0",
    "last_layer.weight_v": "last_layer.parametrizations.weight.original1",
}


class DINOHead(nn.Module):
    """Projection head: 3-layer MLP → bottleneck → ℓ2-normalize → weight-normalized linear to K.

    (B, in_dim) → (B, out_dim). The last layer's weight is g · v / ‖v‖ per output row; with
    `norm_last_layer` the norm g is fixed at 1, which the paper found stabilizes training.
    """

    def __init__(
        self, in_dim, out_dim=65536, hidden_dim=2048, bottleneck_dim=256, nlayers=3, norm_last_layer=True
    ):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers = []
        for i in range(nlayers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < nlayers - 1:
                layers.append(nn.GELU())  # keys mlp.0, mlp.2, mlp.4 hold the weights
        self.mlp = nn.Sequential(*layers)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.init_weights(norm_last_layer)
        self._register_state_dict_hook(_save_old_weight_norm_names)
        self.register_load_state_dict_pre_hook(_load_old_weight_norm_names)

    def init_weights(self, norm_last_layer):
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        g = self.last_layer.parametrizations.weight.original0  # (out_dim, 1), the norm g
        with torch.no_grad():
            g.fill_(1.0)
        g.requires_grad = not norm_last_layer

    def forward(self, x):
        x = self.mlp(x)  # (B, bottleneck)
        x = F.normalize(x, dim=-1, p=2)  # on the unit sphere
        return self.last_layer(x)  # (B, out_dim)


def _save_old_weight_norm_names(module, state_dict, prefix, local_metadata):
    """state_dict() hook: write the official `weight_g`/`weight_v` names."""
    for old, new in OLD_TO_NEW_WEIGHT_NORM.items():
        if prefix + new in state_dict:
            state_dict[prefix + old] = state_dict.pop(prefix + new)
    return state_dict


def _load_old_weight_norm_names(module, state_dict, prefix, *args):
    """load_state_dict() pre-hook: accept `weight_g`/`weight_v` (official) as well as new names."""
    for old, new in OLD_TO_NEW_WEIGHT_NORM.items():
        if prefix + old in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)


def freeze_last_layer(head, epoch, freeze_epochs):
    """DINO drops the last layer's gradient during the first epochs (it stabilizes the start)."""
    if epoch < freeze_epochs:
        for p in head.last_layer.parameters():
            p.grad = None


class MultiCropWrapper(nn.Module):
    """Runs the backbone once per crop resolution, then the head on every [CLS] feature.

    crops: a list of (B, 3, H_i, W_i) tensors, same-size crops consecutive (globals first).
    Returns (n_crops·B, out_dim), crop-major: rows [i·B, (i+1)·B) belong to crop i.
    """

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone  # its own `head` must be an Identity: forward gives [CLS] (B, D)
        self.head = head

    def forward(self, crops, return_features=False):
        if torch.is_tensor(crops):
            crops = [crops]
        features = [self.backbone(torch.cat(group)) for group in group_by_size(crops)]
        features = torch.cat(features)  # (n_crops·B, D)
        out = self.head(features)  # (n_crops·B, K)
        return (out, features) if return_features else out


def group_by_size(crops):
    """Split a list of crops into runs of consecutive crops with the same spatial size."""
    groups = [[crops[0]]]
    for crop in crops[1:]:
        if crop.shape[-2:] == groups[-1][-1].shape[-2:]:
            groups[-1].append(crop)
        else:
            groups.append([crop])
    return groups


# -- EMA teacher ------------------------------------------------------------------------------
def cosine_schedule(base, final, step, total_steps):
    """Cosine from `base` (step 0) to `final` (step total_steps), as DINO's schedules."""
    if total_steps <= 0:
        return final
    t = min(max(step / total_steps, 0.0), 1.0)
    return final + (base - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def teacher_momentum(step, total_steps, base=0.996, final=1.0):
    """The teacher's EMA momentum: 0.996 → 1 with a cosine over training."""
    return cosine_schedule(base, final, step, total_steps)


def make_teacher(student):
    """A copy of the student that never receives gradients (updated only by `update_teacher`)."""
    import copy

    from course_lib.blocks import DropPath

    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad = False
    for m in teacher.modules():
        if isinstance(m, DropPath):
            m.drop_prob = 0.0  # as in DINO: stochastic depth only in the student
    return teacher


@torch.no_grad()
def update_teacher(student, teacher, momentum):
    """θ_t ← m θ_t + (1 − m) θ_s for every parameter (buffers are copied)."""
    for p_s, p_t in zip(student.parameters(), teacher.parameters()):
        p_t.mul_(momentum).add_(p_s.detach(), alpha=1.0 - momentum)
    for b_s, b_t in zip(student.buffers(), teacher.buffers()):
        b_t.copy_(b_s)


# -- the loss ---------------------------------------------------------------------------------
def sinkhorn_knopp(teacher_logits, temp, n_iters=3):
    """DINOv2's centering: make the batch's targets use every prototype equally.

    Alternately normalizes the (K × B) matrix Q = exp(logits / τ) so that each prototype (row)
    gets total mass 1/K and each sample (column) 1/B; `n_iters` rounds of it.

    Args:
        teacher_logits: (B, K).
    Returns:
        (B, K) targets; each row sums to 1.
    """
    logits = teacher_logits.float() / temp
    Q = torch.exp(logits - logits.max()).T  # (K, B); subtracting the max only avoids overflow
    K, B = Q.shape
    Q /= Q.sum()
    for _ in range(n_iters):
        Q /= Q.sum(dim=1, keepdim=True) * K  # each prototype: mass 1/K
        Q /= Q.sum(dim=0, keepdim=True) * B  # each sample: mass 1/B
    return (Q * B).T  # (B, K), each row a distribution


def cross_entropy_pairs(targets, student_logits, student_temp=0.1):
    """Mean of H(P_t, P_s) over every (teacher view t, student view s ≠ t) pair.

    Args:
        targets: (2, B, K) teacher probabilities of the two global views.
        student_logits: (n_crops, B, K).
    Returns:
        scalar.
    """
    log_probs = F.log_softmax(student_logits / student_temp, dim=-1)  # (n_crops, B, K)
    cross = -torch.einsum("tbk,sbk->tsb", targets, log_probs).mean(dim=-1)  # (2, n_crops)
    same_view = torch.zeros_like(cross, dtype=torch.bool)
    same_view[0, 0] = same_view[1, 1] = True
    return cross[~same_view].mean()


@dataclass
class DINOLossConfig:
    out_dim: int = 65536
    n_crops: int = 10
    student_temp: float = 0.1
    teacher_temp: float = 0.04  # the sharpening: lower = more peaked targets
    warmup_teacher_temp: float = 0.04
    warmup_epochs: int = 0  # linear warm-up of the teacher temperature
    center_momentum: float = 0.9
    centering: str = "ema"  # "ema" (DINO), "sinkhorn" (DINOv2) or "none" (collapse demo)


class DINOLoss(nn.Module):
    """DINO's loss with its running centre c (a buffer saved in checkpoints).

    forward(student_out (n_crops·B, K), teacher_out (2·B, K), epoch) → scalar, and afterwards
    updates c ← m c + (1 − m) · mean of this batch's teacher outputs.
    """

    def __init__(self, config: DINOLossConfig | None = None, **overrides):
        super().__init__()
        from dataclasses import replace

        self.config = replace(config or DINOLossConfig(), **overrides)
        if self.config.centering not in ("ema", "sinkhorn", "none"):
            raise ValueError(f"Unknown centering {self.config.centering!r}: use 'ema', 'sinkhorn' or 'none'.")
        self.register_buffer("center", torch.zeros(1, self.config.out_dim))

    def teacher_temp(self, epoch):
        """Linear warm-up from `warmup_teacher_temp` to `teacher_temp`, then constant."""
        c = self.config
        if epoch >= c.warmup_epochs:
            return c.teacher_temp
        return c.warmup_teacher_temp + (c.teacher_temp - c.warmup_teacher_temp) * epoch / c.warmup_epochs

    def targets(self, teacher_out, epoch):
        """Teacher outputs (2·B, K) → centred, sharpened probabilities (2, B, K)."""
        temp = self.teacher_temp(epoch)
        t = teacher_out.detach().float()
        if self.config.centering == "sinkhorn":
            probs = sinkhorn_knopp(t, temp)  # (2·B, K)
        else:
            center = self.center if self.config.centering == "ema" else 0.0
            probs = F.softmax((t - center) / temp, dim=-1)
        return probs.view(2, -1, probs.shape[-1])  # (2, B, K)

    def forward(self, student_out, teacher_out, epoch=0):
        K = student_out.shape[-1]
        student = student_out.float().view(-1, teacher_out.shape[0] // 2, K)  # (n_crops, B, K)
        if self.config.centering == "sinkhorn":
            loss = cross_entropy_pairs(self.targets(teacher_out, epoch), student, self.config.student_temp)
        else:
            center = self.center if self.config.centering == "ema" else torch.zeros_like(self.center)
            teacher = teacher_out.float().view(2, -1, K)  # (2, B, K)
            loss = dino_loss(student, teacher, center, self.config.student_temp, self.teacher_temp(epoch))
        self.update_center(teacher_out)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_out):
        """EMA of the teacher's mean output (averaged over all processes under DDP)."""
        batch_center = teacher_out.float().sum(dim=0, keepdim=True)  # (1, K)
        count = torch.tensor([float(teacher_out.shape[0])], device=teacher_out.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(batch_center)
            torch.distributed.all_reduce(count)
        m = self.config.center_momentum
        self.center.mul_(m).add_(batch_center / count, alpha=1.0 - m)


# -- what the collapse plots measure ----------------------------------------------------------
@torch.no_grad()
def collapse_metrics(targets, student_logits, student_temp=0.1):
    """How healthy the distillation is, from one batch.

    Args:
        targets: (B, K) teacher probabilities of one view.
        student_logits: (B, K) the student's logits for the other view.
    Returns:
        dict: `entropy` of the targets (mean over B; 0 = one-hot, log K = uniform), `kl` =
        KL(P_t ‖ P_s) (0 when the student has nothing left to learn), and `top_share` = the
        fraction of the batch whose target argmax is the most common one (1 = one dimension
        dominates every image).
    """
    p = targets.float().clamp_min(1e-12)
    log_q = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    entropy = -(p * p.log()).sum(-1).mean()
    kl = (p * (p.log() - log_q)).sum(-1).mean()
    top = targets.argmax(-1)
    top_share = top.bincount().max().float() / top.numel()
    return {"entropy": entropy.item(), "kl": kl.item(), "top_share": top_share.item()}


def unwrap_state_dict(state_dict, which="teacher"):
    """An official DINO training checkpoint (or any wrapped one) → plain backbone keys.

    Accepts the full `{"teacher": ..., "student": ...}` dict or one of its parts, strips
    `module.` (DDP) and `backbone.` prefixes and drops the projection head (`head.*`).
    """
    if which in state_dict and isinstance(state_dict[which], dict):
        state_dict = state_dict[which]
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        if key.startswith("head."):
            continue  # DINOHead: not part of the backbone
        out[key.removeprefix("backbone.")] = value
    return out


# -- one training step ------------------------------------------------------------------------
def train_step(
    student,
    teacher,
    loss_fn,
    optimizer,
    crops,
    epoch=0,
    momentum=0.996,
    koleo_weight=0.0,
    clip_grad=3.0,
    freeze_head_epochs=0,
    scaler=None,
):
    """One DINO step: forward both networks, distil, step the student, EMA-update the teacher.

    Args:
        student, teacher: `MultiCropWrapper`s; the teacher sees only the two global crops.
        crops: list of (B, 3, H_i, W_i), the two global crops first.
    Returns:
        dict of floats: loss, koleo, and the collapse metrics of this batch.
    """
    use_amp = scaler is not None
    with torch.autocast(crops[0].device.type, dtype=torch.bfloat16, enabled=use_amp):
        with torch.no_grad():
            teacher_out = teacher(crops[:2])  # (2·B, K)
        student_out, features = student(crops, return_features=True)  # (n_crops·B, K), (n_crops·B, D)
    targets = loss_fn.targets(teacher_out, epoch)  # before the centre moves: (2, B, K)
    loss = loss_fn(student_out, teacher_out, epoch)
    koleo = torch.zeros((), device=loss.device)
    if koleo_weight > 0:  # DINOv2: spread the [CLS] features of each global view
        B = crops[0].shape[0]
        koleo = sum(koleo_loss(f.float()) for f in features[: 2 * B].split(B)) / 2
    total = loss + koleo_weight * koleo

    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    freeze_last_layer(student.head, epoch, freeze_head_epochs)
    optimizer.step()
    update_teacher(student, teacher, momentum)

    B = crops[0].shape[0]
    metrics = collapse_metrics(targets[0], student_out[B : 2 * B].detach(), loss_fn.config.student_temp)
    return {"loss": loss.item(), "koleo": koleo.item(), **metrics}


# -- why centering and sharpening: the collapse runs ------------------------------------------
@dataclass
class CollapseConfig:
    centering: bool = True  # False: the centre stays 0
    sharpening: bool = True  # False: the teacher uses the student's temperature (no extra sharpening)
    steps: int = 150
    batch_size: int = 32
    out_dim: int = 256
    teacher_temp: float = 0.04
    student_temp: float = 0.1
    lr: float = 1e-3
    momentum: float = 0.99
    crop_size: int = 32
    seed: int = 0


REGIMES = {(True, True): "healthy", (False, True): "one dimension", (True, False): "uniform"}


def random_crops(images, n, size, scale=(0.4, 1.0), generator=None):
    """n random resized crops (with horizontal flips) of every image: a list of n (B, 3, size, size)."""
    B, _, H, W = images.shape
    views = []
    for _ in range(n):
        out = []
        for img in images:
            area = torch.empty(1).uniform_(*scale, generator=generator).item()
            s = max(2, int(round(H * area**0.5)))
            top = int(torch.randint(0, H - s + 1, (1,), generator=generator))
            left = int(torch.randint(0, W - s + 1, (1,), generator=generator))
            crop = img[:, top : top + s, left : left + s][None]  # (1, 3, s, s)
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)
            if torch.rand(1, generator=generator).item() < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        views.append(torch.cat(out))  # (B, 3, size, size)
    return views


def tiny_dino(backbone_dim=64, depth=2, heads=2, patch=8, img_size=32, out_dim=256):
    """A very small student (ViT + head) for demonstrations that must run in seconds."""
    from course_lib.vit import VisionTransformer, ViTConfig

    cfg = ViTConfig(
        img_size=img_size,
        patch_size=patch,
        num_classes=0,
        embed_dim=backbone_dim,
        depth=depth,
        num_heads=heads,
    )
    head = DINOHead(backbone_dim, out_dim, hidden_dim=4 * backbone_dim, bottleneck_dim=backbone_dim)
    return MultiCropWrapper(VisionTransformer(cfg), head)


def collapse_run(images, config: CollapseConfig | None = None, **overrides):
    """Train a tiny DINO with or without centering / sharpening and record how its teacher behaves.

    Args:
        images: (n, 3, H, W) training images in [0, 1].
    Returns:
        dict of lists per step: `entropy`, `kl`, `top_share`, `loss`; plus `regime` (the expected
        outcome) and `max_entropy` = log K.
    """
    from dataclasses import replace

    cfg = replace(config or CollapseConfig(), **overrides)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    student = tiny_dino(img_size=cfg.crop_size, out_dim=cfg.out_dim)
    teacher = make_teacher(student)
    loss_fn = DINOLoss(
        out_dim=cfg.out_dim,
        n_crops=2,
        student_temp=cfg.student_temp,
        teacher_temp=cfg.teacher_temp if cfg.sharpening else cfg.student_temp,
        warmup_teacher_temp=cfg.teacher_temp if cfg.sharpening else cfg.student_temp,
        centering="ema" if cfg.centering else "none",
    )
    optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.04)
    mean = images.mean(dim=(0, 2, 3), keepdim=True)  # (1, 3, 1, 1)
    std = images.std(dim=(0, 2, 3), keepdim=True)
    images = (images - mean) / std  # standardized inputs: a random ViT then tells images apart
    history = {"entropy": [], "kl": [], "top_share": [], "loss": []}
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(images), (cfg.batch_size,), generator=gen)
        crops = random_crops(images[idx], 2, cfg.crop_size, generator=gen)
        m = train_step(student, teacher, loss_fn, optimizer, crops, momentum=cfg.momentum, clip_grad=0)
        for key in history:
            history[key].append(m[key])
    history["regime"] = REGIMES.get((cfg.centering, cfg.sharpening), "unknown")
    history["max_entropy"] = math.log(cfg.out_dim)
    return history


def classify_regime(history, last=10):
    """Name the end state of a collapse run from the mean of its last steps.

    "uniform": the teacher's entropy is within 10% of log K (sharpening missing);
    "one dimension": near-one-hot targets (entropy < 10% of log K) on the same dimension for most
    of the batch (centering missing); "healthy" otherwise: peaked targets that differ by image.
    """
    entropy = sum(history["entropy"][-last:]) / len(history["entropy"][-last:])
    top_share = sum(history["top_share"][-last:]) / len(history["top_share"][-last:])
    if entropy > 0.9 * history["max_entropy"]:
        return "uniform"
    if top_share > 0.5 and entropy < 0.1 * history["max_entropy"]:
        return "one dimension"
    return "healthy"


# -- multi-crop on whole batches (on the training device) -------------------------------------
# The same augmentation as `course_lib.data.augment.MultiCrop` (random resized crop, flip, colour
# jitter p = 0.8, grayscale p = 0.2, blur; the first global view always blurred, the second
# sometimes solarized), drawn per sample but computed for the whole batch at once, so that a GPU
# is not starved by per-image CPU transforms (those run at ~60 images/s per core).
def batch_resized_crop(x, size, scale, ratio=(3 / 4, 4 / 3)):
    """Per-sample random resized crop + horizontal flip: (B, C, H, W) → (B, C, size, size)."""
    B = x.shape[0]
    dev = x.device
    area = torch.empty(B, device=dev).uniform_(*scale)  # fraction of the image
    log_r = torch.empty(B, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w = (area * log_r.exp()).sqrt().clamp(max=1.0)  # crop width, as a fraction of the image
    h = (area / log_r.exp()).sqrt().clamp(max=1.0)
    cx = (torch.rand(B, device=dev) * 2 - 1) * (1 - w)  # centre in [-1, 1] coordinates
    cy = (torch.rand(B, device=dev) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(B, device=dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, (B, x.shape[1], size, size), align_corners=False)  # (B, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _per_sample(B, low, high, device):
    return torch.empty(B, 1, 1, 1, device=device).uniform_(low, high)


def batch_color(x, strength=0.5, jitter_p=0.8, gray_p=0.2):
    """SimCLR colour distortion per sample: brightness, contrast, saturation, hue, grayscale."""
    B, dev, s = x.shape[0], x.device, strength
    gray = (x * torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]).sum(1, keepdim=True)
    y = x * _per_sample(B, 1 - 0.8 * s, 1 + 0.8 * s, dev)  # brightness
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * _per_sample(B, 1 - 0.8 * s, 1 + 0.8 * s, dev) + mean  # contrast
    g = (y * torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]).sum(1, keepdim=True)
    y = (y - g) * _per_sample(B, 1 - 0.8 * s, 1 + 0.8 * s, dev) + g  # saturation
    y = rotate_hue(y.clamp(0, 1), _per_sample(B, -0.2 * s, 0.2 * s, dev) * 2 * math.pi)
    jitter = torch.rand(B, 1, 1, 1, device=dev) < jitter_p
    y = torch.where(jitter, y, x)
    to_gray = torch.rand(B, 1, 1, 1, device=dev) < gray_p
    gray = (y * torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]).sum(1, keepdim=True)
    return torch.where(to_gray, gray.expand_as(y), y).clamp(0, 1)


def rotate_hue(x, angle):
    """Rotate the chroma of RGB images in YIQ space by `angle` radians (B, 1, 1, 1)."""
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=x.device
    )
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)  # (B, 3, H, W)
    cos, sin = angle.cos()[:, 0], angle.sin()[:, 0]  # (B, 1, 1)
    i, q = yiq[:, 1:2], yiq[:, 2:3]
    yiq = torch.cat([yiq[:, :1], i * cos[:, None] - q * sin[:, None], i * sin[:, None] + q * cos[:, None]], 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), yiq)


def batch_blur(x, p, sigma=(0.1, 2.0)):
    """Gaussian blur with probability p and a per-sample sigma; kernel ≈ 10% of the side (odd)."""
    B, C, H, W = x.shape
    k = max(3, int(0.1 * H) // 2 * 2 + 1)
    s = torch.empty(B, device=x.device).uniform_(*sigma)  # (B,)
    r = torch.arange(k, device=x.device) - k // 2
    kernel = torch.exp(-(r[None] ** 2) / (2 * s[:, None] ** 2))  # (B, k)
    kernel = kernel / kernel.sum(1, keepdim=True)
    kernel = kernel.repeat_interleave(C, 0)  # (B*C, k): one kernel per image and channel
    y = x.reshape(1, B * C, H, W)  # channels of all images side by side, for a grouped conv
    y = F.pad(y, (k // 2,) * 4, mode="reflect")
    y = F.conv2d(y, kernel[:, None, :, None], groups=B * C)  # vertical pass
    y = F.conv2d(y, kernel[:, None, None, :], groups=B * C)  # horizontal pass
    blur = torch.rand(B, 1, 1, 1, device=x.device) < p
    return torch.where(blur, y.reshape(B, C, H, W), x)


def batch_multicrop(
    images,
    global_size=64,
    local_size=32,
    n_local=6,
    global_scale=(0.4, 1.0),
    local_scale=(0.05, 0.4),
    strength=0.5,
):
    """DINO's multi-crop for a batch: images (B, 3, H, W) in [0, 1] → list of 2 + n_local crops."""
    g1 = batch_blur(batch_color(batch_resized_crop(images, global_size, global_scale), strength), 1.0)
    g2 = batch_blur(batch_color(batch_resized_crop(images, global_size, global_scale), strength), 0.1)
    solarize = torch.rand(g2.shape[0], 1, 1, 1, device=g2.device) < 0.2
    g2 = torch.where(solarize & (g2 >= 0.5), 1.0 - g2, g2)
    crops = [g1, g2]
    for _ in range(n_local):
        local = batch_color(batch_resized_crop(images, local_size, local_scale), strength)
        crops.append(batch_blur(local, 0.5))
    return crops


# -- the `dino` recipe: python -m course_lib.train dino ---------------------------------------
class DINOModel(nn.Module):
    """Student, EMA teacher and the loss's running centre, in one module (one checkpoint).

    forward(crops, epoch) → (loss, koleo, student_out, teacher_out); calling it through the
    module (not its parts) keeps DDP's gradient synchronization working.
    """

    def __init__(self, student, loss_fn, koleo_weight=0.0):
        super().__init__()
        self.student = student
        self.teacher = make_teacher(student)
        self.loss_fn = loss_fn
        self.koleo_weight = koleo_weight
        self.head_frozen = False
        last = student.head.last_layer.parametrizations.weight.original1  # v of the last layer
        last.register_hook(lambda g: g * 0 if self.head_frozen else g)  # DINO freezes it at first

    def forward(self, crops, epoch=0):
        B = crops[0].shape[0]
        with torch.no_grad():
            teacher_out = self.teacher(crops[:2])  # (2·B, K): the teacher sees global crops only
        student_out, features = self.student(crops, return_features=True)  # (n·B, K), (n·B, D)
        loss = self.loss_fn(student_out, teacher_out, epoch)
        koleo = torch.zeros((), device=loss.device)
        if self.koleo_weight > 0:  # DINOv2: spread the [CLS] features of each global view
            koleo = sum(koleo_loss(f.float()) for f in features[: 2 * B].split(B)) / 2
        return loss, koleo, student_out, teacher_out


@dataclass
class DINOConfig:  # fields are added to TrainConfig's below (see `_make_recipe`)
    train_size: int = 20000
    val_size: int = 500  # ShapesWorld "test" images for k-NN and attention Jaccard
    image_size: int = 64
    data_seed: int = 0
    difficulty: str = "medium"
    patch_size: int = 8
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    drop_path: float = 0.1
    init_values: float = 0.0  # LayerScale init (DINOv2: 1e-5); 0 = no LayerScale
    ffn: str = "mlp"  # "swiglu" for DINOv2's FFN
    out_dim: int = 4096
    hidden_dim: int = 1024
    bottleneck_dim: int = 256
    norm_last_layer: bool = True
    freeze_last_layer: float = 1.0  # epochs with the head's last layer frozen
    n_local: int = 6
    local_size: int = 32
    global_scale_min: float = 0.4
    local_scale_min: float = 0.05
    teacher_temp: float = 0.02
    warmup_teacher_temp: float = 0.02
    warmup_teacher_temp_epochs: int = 0
    student_temp: float = 0.1
    center_momentum: float = 0.9
    centering: str = "ema"  # or "sinkhorn" (DINOv2)
    momentum_teacher: float = 0.996
    koleo_weight: float = 0.0  # DINOv2 uses 0.1
    augment: str = "batch"  # "batch": on-device multi-crop; "multicrop": augment.MultiCrop per image
    knn_train_size: int = 2000


def _register_recipe():
    from dataclasses import fields, make_dataclass

    from course_lib.train.recipe import Recipe, TrainConfig, register_recipe

    extra = [(f.name, f.type, f.default) for f in fields(DINOConfig)]
    defaults = dict(
        lr=5e-4,
        min_lr=1e-6,
        warmup_epochs=2.0,
        weight_decay=0.04,
        grad_clip=3.0,
        batch_size=64,
        epochs=100.0,
        eval_every=0,
        save_every=500,
    )
    extra += [(name, type(value), value) for name, value in defaults.items()]
    config_cls = make_dataclass("DINOTrainConfig", extra, bases=(TrainConfig,))

    @register_recipe("dino")
    class DINORecipe(Recipe):
        """DINO self-distillation of a small ViT on ShapesWorld (multi-crop, EMA teacher)."""

        Config = config_cls

        def build_model(self, cfg):
            return build_dino_model(cfg)

        def build_data(self, cfg):
            from course_lib.train.supervised import render_shapes

            train = render_shapes(cfg.train_size, cfg.image_size, cfg.data_seed, "train", cfg.difficulty)
            if cfg.augment == "multicrop":
                train = MultiCropShapes(train, cfg)
            elif cfg.augment != "batch":
                raise ValueError(f"Unknown --augment {cfg.augment!r}: choose 'batch' or 'multicrop'.")
            return train, render_shapes(cfg.val_size, cfg.image_size, cfg.data_seed, "test", cfg.difficulty)

        def training_step(self, model, batch, ctx):
            return dino_training_step(model, batch, ctx)

        def after_step(self, model, ctx):
            m = teacher_momentum(ctx.step + 1, ctx.total_steps, ctx.cfg.momentum_teacher, 1.0)
            update_teacher(model.student, model.teacher, m)

        def evaluate(self, model, val, ctx):
            return evaluate_backbone(model.teacher.backbone, ctx.cfg, ctx.device)

        def card(self, model, cfg):
            from course_lib.train.supervised import SHAPES_MEAN, SHAPES_STD

            return {
                "model": {"factory": "course_lib.vit:vit_tiny", "kwargs": backbone_kwargs(cfg)},
                "input": {
                    "image_size": cfg.image_size,
                    "mean": list(SHAPES_MEAN),
                    "std": list(SHAPES_STD),
                    "data": f"ShapesWorld(seed={cfg.data_seed}, difficulty={cfg.difficulty!r})",
                },
                "exported": "the teacher's backbone (DINO evaluates the teacher)",
            }

        def export(self, model):
            return model.teacher.backbone

    return DINORecipe


def backbone_kwargs(cfg):
    """`vit_tiny` keyword arguments of the recipe's backbone (what the card records)."""
    kwargs = {
        "patch_size": cfg.patch_size,
        "img_size": cfg.image_size,
        "embed_dim": cfg.embed_dim,
        "depth": cfg.depth,
        "num_heads": cfg.num_heads,
        "num_classes": 0,
    }
    if cfg.init_values > 0:
        kwargs["init_values"] = cfg.init_values
    if cfg.ffn != "mlp":
        kwargs["ffn"] = cfg.ffn
    return kwargs


def build_dino_model(cfg):
    from course_lib.vit import vit_tiny

    backbone = vit_tiny(
        **backbone_kwargs(cfg), drop_path_rate=cfg.drop_path, fused_attn=True
    )  # maps: explicit
    head = DINOHead(
        cfg.embed_dim, cfg.out_dim, cfg.hidden_dim, cfg.bottleneck_dim, norm_last_layer=cfg.norm_last_layer
    )
    loss_fn = DINOLoss(
        out_dim=cfg.out_dim,
        n_crops=2 + cfg.n_local,
        student_temp=cfg.student_temp,
        teacher_temp=cfg.teacher_temp,
        warmup_teacher_temp=cfg.warmup_teacher_temp,
        warmup_epochs=cfg.warmup_teacher_temp_epochs,
        center_momentum=cfg.center_momentum,
        centering=cfg.centering,
    )
    return DINOModel(MultiCropWrapper(backbone, head), loss_fn, cfg.koleo_weight)


def standardize(x):
    """[0, 1] images → ShapesWorld-standardized inputs (the same statistics as the baselines)."""
    from course_lib.train.supervised import SHAPES_MEAN, SHAPES_STD

    mean = torch.tensor(SHAPES_MEAN, device=x.device)[:, None, None]
    std = torch.tensor(SHAPES_STD, device=x.device)[:, None, None]
    return (x - mean) / std


def dino_training_step(model, batch, ctx):
    cfg = ctx.cfg
    inner = ctx.unwrap(model)
    inner.head_frozen = ctx.epoch < cfg.freeze_last_layer
    if "crops" in batch:  # per-image MultiCrop, already drawn by the data loader
        crops = [c.float() for c in batch["crops"]]
    else:
        images = batch["image"].float() / 255.0  # (B, 3, H, W)
        crops = batch_multicrop(
            images,
            cfg.image_size,
            cfg.local_size,
            cfg.n_local,
            (cfg.global_scale_min, 1.0),
            (cfg.local_scale_min, cfg.global_scale_min),
        )
    crops = [standardize(c) for c in crops]
    loss, koleo, student_out, teacher_out = model(crops, ctx.epoch)
    inner_loss = inner.loss_fn
    with torch.no_grad():
        B = crops[0].shape[0]
        targets = F.softmax(
            (teacher_out[:B].float() - inner_loss.center) / inner_loss.teacher_temp(ctx.epoch), -1
        )
        metrics = collapse_metrics(targets, student_out[B : 2 * B].float(), cfg.student_temp)
    metrics["entropy_ratio"] = metrics["entropy"] / math.log(cfg.out_dim)
    return loss + cfg.koleo_weight * koleo, {"dino_loss": loss.item(), "koleo": koleo.item(), **metrics}


class MultiCropShapes(torch.utils.data.Dataset):
    """Rendered ShapesWorld with `augment.MultiCrop` applied per image (the CPU-worker path)."""

    def __init__(self, rendered, cfg):
        from course_lib.data.augment import MultiCrop

        self.rendered = rendered
        self.multicrop = MultiCrop(
            cfg.image_size,
            cfg.local_size,
            cfg.n_local,
            (cfg.global_scale_min, 1.0),
            (cfg.local_scale_min, cfg.global_scale_min),
        )

    def __len__(self):
        return len(self.rendered)

    def __getitem__(self, i):
        image = self.rendered.images[i].float() / 255.0
        return {"crops": self.multicrop(image), "label": self.rendered.labels[i]}


# -- evaluation during and after training -----------------------------------------------------
@lru_cache(maxsize=4)
def held_out_shapes(n, image_size=64, seed=0, split="test", difficulty="medium"):
    """n ShapesWorld items as (images (n, 3, H, W) in [0, 1], foregrounds (n, H, W), labels (n,))."""
    from course_lib.data import ShapesWorld

    batch = ShapesWorld(n, image_size=image_size, seed=seed, split=split, difficulty=difficulty).batch(
        range(n)
    )
    return batch["image"], batch["foreground"], batch["label"]


@torch.no_grad()
def cls_features(backbone, images, batch_size=256):
    """[CLS] features (n, D) of [0, 1] images (standardized here), in eval mode."""
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    feats = [
        backbone.forward_features(standardize(images[i : i + batch_size].to(device)))[:, 0].float()
        for i in range(0, len(images), batch_size)
    ]  # [CLS] after the final norm, with or without a head
    backbone.train(was_training)
    return torch.cat(feats)


def evaluate_backbone(backbone, cfg, device):
    """k-NN shape accuracy (train → test features) and attention Jaccard on held-out ShapesWorld."""
    from course_lib.evaluate import attention_jaccard_report, knn_accuracy

    train_x, _, train_y = held_out_shapes(
        cfg.knn_train_size, cfg.image_size, cfg.data_seed, "train", cfg.difficulty
    )
    test_x, test_fg, test_y = held_out_shapes(
        cfg.val_size, cfg.image_size, cfg.data_seed, "test", cfg.difficulty
    )
    knn = knn_accuracy(
        cls_features(backbone, train_x).cpu(), train_y, cls_features(backbone, test_x).cpu(), test_y
    )
    was_training = backbone.training
    backbone.eval()
    report = attention_jaccard_report(backbone, standardize(test_x.to(device)), test_fg.to(device))
    backbone.train(was_training)
    return {
        "knn_top1": knn,
        "jaccard_best_head": report["best_head"],
        "jaccard_mean_heads": report["mean_heads"],
        "fg_mass_ratio_best": max(report["fg_mass_ratio"]),
    }


DINORecipe = _register_recipe()


# -- official weights (Caron et al., facebookresearch/dino) -----------------------------------
DINO_URL = "https://dl.fbaipublicfiles.com/dino"
OFFICIAL_BACKBONES = {  # name → (ViT preset, patch size, file stem of the published weights)
    "dino_vits16": ("small", 16, "dino_deitsmall16_pretrain"),
    "dino_vits8": ("small", 8, "dino_deitsmall8_pretrain"),
    "dino_vitb16": ("base", 16, "dino_vitbase16_pretrain"),
    "dino_vitb8": ("base", 8, "dino_vitbase8_pretrain"),
}


def official_url(name, full=False):
    """The published file of an official backbone, or of its full training checkpoint."""
    stem = OFFICIAL_BACKBONES[name][2]
    suffix = "_full_checkpoint" if full else ""
    return f"{DINO_URL}/{stem}/{stem}{suffix}.pth"


def read_torch_file(path):
    """A published .pth as a dict of tensors, without running pickled code; errors are one sentence."""
    import argparse

    from course_lib.checkpoints import CheckpointError

    try:  # weights_only: tensors and plain containers only; full checkpoints also hold an argparse Namespace
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, wrong format: all mean "not this file"
        raise CheckpointError(
            f"The file {path} is not a readable PyTorch checkpoint ({type(err).__name__}): it may be "
            "truncated or the wrong file; delete it and download it again."
        ) from err


def official_backbone(name, state_dict):
    """Build the ViT of official backbone `name` and load `state_dict` strictly.

    `state_dict` may be the plain backbone file or a full training checkpoint
    (`{"teacher": {"backbone.*", "head.*"}, "student": {"module.backbone.*", ...}}`): the teacher's
    backbone is taken, as DINO's own evaluation does.
    """
    from course_lib.checkpoints import load_state_dict_strict
    from course_lib.vit import make_vit

    preset, patch, _ = OFFICIAL_BACKBONES[name]
    model = make_vit(preset, patch_size=patch, img_size=224, num_classes=0)
    return load_state_dict_strict(model, unwrap_state_dict(state_dict, "teacher")).eval()


def load_official(name, full=False):
    """Download (once, into the torch hub cache) and load an official DINO backbone."""
    from course_lib.checkpoints import download

    path = download(official_url(name, full))
    return official_backbone(name, read_torch_file(path))


def dino_vits16_official(full=False):
    return load_official("dino_vits16", full)


def dino_vits8_official(full=False):
    return load_official("dino_vits8", full)


def dino_vitb16_official(full=False):
    return load_official("dino_vitb16", full)


def dino_vitb8_official(full=False):
    return load_official("dino_vitb8", full)


def collapse_experiment(images, steps=200, **overrides):
    """The slide's three runs: centering + sharpening, sharpening only, centering only.

    Returns {label: history} (see `collapse_run`), each with its measured `regime_found`.
    """
    runs = {}
    for label, centering, sharpening in [
        ("centering + sharpening", True, True),
        ("no centering", False, True),
        ("no sharpening", True, False),
    ]:
        hist = collapse_run(images, centering=centering, sharpening=sharpening, steps=steps, **overrides)
        hist["regime_found"] = classify_regime(hist)
        runs[label] = hist
    return runs


# -- DINO vs supervised vs random: the paper's Fig. 4 comparison on ShapesWorld ----------------
def comparison_models(names=("dino-vit-shapes", "supervised-vit-shapes")):
    """{label: ViT} for the bundled models that exist, plus a random-init ViT of DINO's shape."""
    from course_lib.checkpoints import list_pretrained, load_pretrained
    from course_lib.vit import vit_tiny

    models, bundled = {}, set(list_pretrained("bundled"))
    for name in names:
        if name in bundled:
            models[name.split("-")[0]] = load_pretrained(name)
    torch.manual_seed(0)
    models["random"] = vit_tiny(patch_size=8, img_size=64, depth=6, num_classes=0).eval()
    return models


def compare_attention(models, n_test=500, n_train=2000, seed=0, mass=0.6):
    """Best-head / mean Jaccard, foreground attention mass and k-NN accuracy for each model.

    Held-out = ShapesWorld's "test" split; the k-NN memory bank is the first `n_train` training
    images. Returns {label: metrics}, and "_reference": the centred-blob Jaccard.
    """
    from course_lib.evaluate import attention_jaccard_report, knn_accuracy

    test_x, test_fg, test_y = held_out_shapes(n_test, 64, seed, "test")
    train_x, _, train_y = held_out_shapes(n_train, 64, seed, "train")
    results = {}
    for label, model in models.items():
        report = attention_jaccard_report(model, standardize(test_x), test_fg, mass)
        knn = knn_accuracy(cls_features(model, train_x), train_y, cls_features(model, test_x), test_y)
        results[label] = {
            **report,
            "knn_top1": knn,
            "fg_mass_ratio_best_head": report["fg_mass_ratio"][report["best_head_index"]],
        }
    results["_reference"] = {
        "centred_blob_jaccard": report["blob"],
        "n_test": n_test,
        "n_train": n_train,
        "mass": mass,
        "split": "test",
        "seed": seed,
    }
    return results


def main(argv=None):
    """`python -m course_lib.dino compare [--out data/results/dino_jaccard.json] [--n-test 500]`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m course_lib.dino")
    parser.add_argument("what", choices=["compare"])
    parser.add_argument("--out", default="data/results/dino_jaccard.json")
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-train", type=int, default=2000)
    args = parser.parse_args(argv)
    results = compare_attention(comparison_models(), args.n_test, args.n_train)
    results["_reference"]["command"] = (
        f"python -m course_lib.dino compare --n-test {args.n_test} --n-train {args.n_train}"
    )
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()


# -- inspecting attention (the notebook and the app) ------------------------------------------
@torch.no_grad()
def attention_rows(model, images, queries=(0,), rollout=False, residual=0.5):
    """The attention rows of chosen query tokens in every layer, without keeping whole maps.

    A 480-px image with patch 8 has N = 3601 tokens: its 12 full (heads, N, N) maps take ~4 GB,
    the rows of a few queries a few MB. The network runs on the fused attention kernel; each
    layer's `qkv` output is captured and only the requested rows softmax(q_i Kᵀ/√d) are formed.
    Rollout (Abnar & Zuidema 2020) needs the full head-averaged maps: one (N, N) per layer.

    Args:
        model: a `VisionTransformer`; images: (B, 3, H, W), normalized for the model.
        queries: token indices (0 = [CLS], 1 + r·w + c = patch (r, c)).
    Returns:
        rows: (layers, B, heads, Q, N); and the rollout's rows (B, Q, N), or None.
    """
    from course_lib.attention import attention_weights

    captured = []
    hooks = [
        blk.attn.qkv.register_forward_hook(lambda m, i, out: captured.append(out)) for blk in model.blocks
    ]
    fused = [blk.attn.fused for blk in model.blocks]
    try:
        for blk in model.blocks:
            blk.attn.fused = True  # same numbers, no (N, N) matrix
        model.forward_features(images)
    finally:
        for blk, f, hook in zip(model.blocks, fused, hooks):
            blk.attn.fused = f
            hook.remove()
    q_idx = torch.as_tensor(list(queries), device=images.device)
    rows, mixed = [], []
    for blk, qkv in zip(model.blocks, captured):
        B, N, _ = qkv.shape
        heads = blk.attn.num_heads
        q, k, _ = qkv.reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)  # each (B, heads, N, d)
        rows.append(attention_weights(q[:, :, q_idx], k, blk.attn.scale).float())  # (B, heads, Q, N)
        if rollout:
            avg = attention_weights(q, k, blk.attn.scale).float().mean(1)  # (B, N, N)
            avg = residual * torch.eye(N, device=avg.device) + (1 - residual) * avg
            mixed.append(avg / avg.sum(-1, keepdim=True))
    roll = None
    if rollout:  # row q of Ã_L ··· Ã_1: multiply a one-hot row by the layers, last layer first
        roll = F.one_hot(q_idx, N).float().expand(B, -1, -1)  # (B, Q, N)
        for avg in reversed(mixed):
            roll = roll @ avg  # (B, Q, N)
    return torch.stack(rows), roll
