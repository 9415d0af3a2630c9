"""DINO's networks: the projection head, the multi-crop wrapper, and the EMA teacher.

    student = MultiCropWrapper(ViT, DINOHead): every crop → [CLS] (n_crops·B, D) → (n_crops·B, K)
    teacher = a copy of the student, never trained by gradient: θ_t ← m θ_t + (1 − m) θ_s

Key names follow the official checkpoints: the head has `mlp.0/2/4` and a weight-normalized
`last_layer` saved as `weight_g`/`weight_v`; a wrapped model has `backbone.*` and `head.*`.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

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
        self.last_layer_frozen = False  # set by `freeze_last_layer`
        for p in self.last_layer.parameters():
            if p.requires_grad:  # g too, unless norm_last_layer fixes it
                p.register_hook(self._zero_if_frozen)
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

    def _zero_if_frozen(self, grad):
        return grad * 0 if self.last_layer_frozen else grad


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
    """DINO keeps the head's last layer fixed during the first epochs (it stabilizes the start).

    Call it before the backward pass: while epoch < freeze_epochs, a gradient hook of `DINOHead`
    turns the layer's gradients into zeros. Zeros rather than no gradient, so that it works in any
    training loop and under DDP, which expects a gradient for every parameter.
    """
    head.last_layer_frozen = epoch < freeze_epochs


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
    # BEGIN SOLUTION
    for p_s, p_t in zip(student.parameters(), teacher.parameters()):
        p_t.mul_(momentum).add_(p_s.detach(), alpha=1.0 - momentum)
    for b_s, b_t in zip(student.buffers(), teacher.buffers()):
        b_t.copy_(b_s)
    # END SOLUTION


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
