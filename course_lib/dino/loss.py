"""DINO's loss: centring (EMA centre, or DINOv2's Sinkhorn-Knopp) and sharpening of the teacher.

The functional core, `course_lib.losses.dino_loss`, holds the formula, and every centering goes
through it; `DINOLoss` adds the running centre (a buffer, so checkpoints keep it), DINOv2's
Sinkhorn-Knopp targets and the teacher-temperature warm-up.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.losses import dino_loss


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

    def teacher_logits(self, teacher_out, epoch):
        """What `dino_loss` takes for the teacher: (logits (2, B, K), centre, temperature).

        EMA centering: the raw outputs, the running centre c, the (warmed-up) τ_t. Sinkhorn-Knopp
        gives probabilities directly: as logits log P at τ = 1 with no centre, softmax returns P.
        """
        temp = self.teacher_temp(epoch)
        t = teacher_out.detach().float()  # (2·B, K)
        no_center = torch.zeros_like(self.center)  # (1, K)
        if self.config.centering == "sinkhorn":
            t, center, temp = sinkhorn_knopp(t, temp).log(), no_center, 1.0
        else:
            center = self.center if self.config.centering == "ema" else no_center
        return t.view(2, -1, t.shape[-1]), center, temp  # (2, B, K), (1, K), float

    def targets(self, teacher_out, epoch):
        """Teacher outputs (2·B, K) → centred, sharpened probabilities (2, B, K)."""
        logits, center, temp = self.teacher_logits(teacher_out, epoch)
        return F.softmax((logits - center) / temp, dim=-1)

    def forward(self, student_out, teacher_out, epoch=0):
        K = student_out.shape[-1]
        student = student_out.float().view(-1, teacher_out.shape[0] // 2, K)  # (n_crops, B, K)
        teacher, center, temp = self.teacher_logits(teacher_out, epoch)
        loss = dino_loss(student, teacher, center, self.config.student_temp, temp)
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
