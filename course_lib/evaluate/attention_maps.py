"""Attention as a segmentation: DINO's Jaccard rule, [CLS] maps, attention rows and rollout.

DINO's rule (Caron et al. 2021, Fig. 4 / Table 3): threshold a head's [CLS] attention map so that
it keeps the smallest set of patches holding `mass` (60%) of the attention, upsample the kept
patches to pixels, and compare with the true foreground by Jaccard = |A ∩ B| / |A ∪ B|. Reported
per head, as the mean over heads, and for the best head.
"""

import torch
import torch.nn.functional as F

from course_lib.attention import attention_weights


def threshold_attention(attn, mass=0.6):
    """Keep the smallest set of patches whose attention sums to at least `mass` of the total.

    Args:
        attn: (..., h, w) non-negative attention over the patch grid (need not sum to 1).
    Returns:
        (..., h, w) bool, True = kept.
    """
    # BEGIN SOLUTION
    *lead, h, w = attn.shape
    flat = attn.reshape(-1, h * w).float()  # (M, h*w)
    flat = flat / flat.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    values, order = flat.sort(dim=-1, descending=True)  # (M, h*w), largest first
    mass_before = values.cumsum(dim=-1) - values  # mass of the patches ranked above each one
    keep_sorted = mass_before < mass  # keep while the kept mass is still short of `mass`
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to grid order
    return keep.reshape(*lead, h, w)
    # END SOLUTION


def upsample_mask(mask, size):
    """(..., h, w) bool patch mask → (..., H, W) by nearest (each patch covers an H/h × W/w block)."""
    h, w = mask.shape[-2:]
    H, W = size
    if H % h or W % w:
        raise ValueError(f"The mask size {(H, W)} must be a multiple of the attention grid {(h, w)}.")
    return mask.repeat_interleave(H // h, dim=-2).repeat_interleave(W // w, dim=-1)


def jaccard(a, b):
    """Jaccard index |a ∩ b| / |a ∪ b| over the last two dims of bool tensors (1 if both empty)."""
    inter = (a & b).sum(dim=(-2, -1)).float()
    union = (a | b).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def attention_jaccard(attn, mask, mass=0.6):
    """DINO's Jaccard between a thresholded attention map and a true mask.

    Args:
        attn: (h, w) one head's [CLS] attention over the patch grid; or (heads, h, w) for every
            head at once.
        mask: (H, W) bool ground truth, H and W multiples of h and w.
        mass: fraction of the attention the kept patches must hold.
    Returns:
        a float for one head; a (heads,) tensor for several.
    """
    kept = upsample_mask(threshold_attention(attn, mass), mask.shape[-2:])  # (..., H, W)
    score = jaccard(kept, mask.bool().to(kept.device))
    return score.item() if attn.dim() == 2 else score


def cls_attention_maps(model, images, layer=-1):
    """[CLS] → patch attention of one layer, per head, on the patch grid.

    Args:
        model: a `VisionTransformer` (anything with `get_selfattention` and `config.patch_size`).
        images: (B, 3, H, W), already normalized as the model expects.
    Returns:
        (B, heads, h, w) float, with h = H / patch, w = W / patch.
    """
    B, _, H, W = images.shape
    p = model.config.patch_size
    with torch.no_grad():
        attn = model.get_selfattention(images)[layer]  # (B, heads, N, N), N = 1 + h*w
    cls_to_patches = attn[:, :, 0, 1:].float()  # (B, heads, h*w): row 0 is the [CLS] query
    return cls_to_patches.reshape(B, -1, H // p, W // p)  # (B, heads, h, w)


def centred_blob(h, w, sigma=0.25):
    """A fixed Gaussian blob in the middle of an (h, w) grid: the "attend to the centre" reference."""
    ys = (torch.arange(h) + 0.5) / h - 0.5
    xs = (torch.arange(w) + 0.5) / w - 0.5
    d2 = ys[:, None] ** 2 + xs[None, :] ** 2  # (h, w)
    return torch.exp(-d2 / (2 * sigma**2))


def foreground_mass_ratio(attn, mask):
    """Attention mass on the foreground divided by the foreground's area fraction (1 = uniform).

    Args:
        attn: (..., h, w) attention over the patch grid; mask: (H, W) bool.
    Returns:
        (...,) ratios.
    """
    h, w = attn.shape[-2:]
    fg = F.adaptive_avg_pool2d(mask.float()[None, None], (h, w))[0, 0].to(attn.device)  # (h, w) share
    probs = attn.float() / attn.float().sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    on_fg = (probs * fg).sum(dim=(-2, -1))  # (...,)
    return on_fg / fg.mean().clamp_min(1e-12)


def attention_jaccard_report(model, images, masks, mass=0.6, layer=-1, batch_size=64):
    """Jaccard of every head over a held-out set, as in DINO's Table 3.

    Args:
        images: (n, 3, H, W), normalized as the model expects; masks: (n, H, W) bool foregrounds.
    Returns:
        dict: `per_head` (list, mean over images), `mean_heads`, `best_head` (value),
        `best_head_index`, `blob` (the centred-blob reference), `fg_mass_ratio` (per head, 1 =
        uniform attention), `n_images`.
    """
    scores, ratios = [], []
    for start in range(0, len(images), batch_size):
        maps = cls_attention_maps(model, images[start:start + batch_size], layer)  # (b, heads, h, w)
        for attn, mask in zip(maps, masks[start:start + batch_size]):
            scores.append(attention_jaccard(attn, mask, mass))  # (heads,)
            ratios.append(foreground_mass_ratio(attn, mask))  # (heads,)
    per_head = torch.stack(scores).mean(dim=0)  # (heads,)
    h, w = maps.shape[-2:]
    blob = torch.tensor([attention_jaccard(centred_blob(h, w), m.cpu(), mass) for m in masks]).mean()
    return {
        "per_head": per_head.tolist(),
        "mean_heads": per_head.mean().item(),
        "best_head": per_head.max().item(),
        "best_head_index": int(per_head.argmax()),
        "blob": blob.item(),
        "fg_mass_ratio": torch.stack(ratios).mean(dim=0).tolist(),
        "n_images": len(images),
    }


def attention_rollout(maps, residual=0.5, queries=None):
    """Attention rollout (Abnar & Zuidema 2020): how much each token draws on each input token.

    Per layer, average the heads and mix in the residual connection, Ã = r·I + (1 − r)·mean_h A,
    renormalize the rows, and multiply the layers: R = Ã_L ··· Ã_1.

    Args:
        maps: list of per-layer attention maps, each (B, heads, N, N) (heads may be 1: averaged).
        queries: token indices, or None for every token. Their rows e_q Ã_L ··· Ã_1 are formed
            from the last layer down: (Q, N) @ (N, N) per layer instead of (N, N) @ (N, N).
    Returns:
        (B, N, N), or (B, Q, N) for `queries`; row i is token i's rollout over the input tokens.
    """
    B, _, N, _ = maps[0].shape
    eye = torch.eye(N, device=maps[0].device)

    def mixed(attn):  # (B, heads, N, N) → Ã (B, N, N), rows summing to 1
        a = residual * eye + (1 - residual) * attn.float().mean(dim=1)
        return a / a.sum(dim=-1, keepdim=True)

    if queries is None:
        rollout = eye.expand(B, N, N)
        for attn in maps:
            rollout = mixed(attn) @ rollout  # (B, N, N): this layer after all the earlier ones
        return rollout
    rows = eye[list(queries)].expand(B, -1, -1)  # (B, Q, N): one-hot rows
    for attn in reversed(maps):
        rows = rows @ mixed(attn)  # (B, Q, N)
    return rows


def captured_qkv(model, images):
    """Run a ViT on its fused attention kernel and return each layer's `qkv` output (B, N, 3·D)."""
    captured = []
    keep = lambda module, inputs, out: captured.append(out)  # (B, N, 3·D)
    hooks = [blk.attn.qkv.register_forward_hook(keep) for blk in model.blocks]
    fused = [blk.attn.fused for blk in model.blocks]
    try:
        for blk in model.blocks:
            blk.attn.fused = True  # same numbers, no (N, N) matrix
        model.forward_features(images)
    finally:
        for blk, f, hook in zip(model.blocks, fused, hooks):
            blk.attn.fused = f
            hook.remove()
    return captured


@torch.no_grad()
def attention_rows(model, images, queries=(0,), rollout=False, residual=0.5):
    """The attention rows of chosen query tokens in every layer, without keeping whole maps.

    A 480-px image with patch 8 has N = 3601 tokens: its 12 full (heads, N, N) maps take ~4 GB,
    the rows of a few queries a few MB. The network runs on the fused attention kernel; each
    layer's `qkv` output is captured and only the requested rows softmax(q_i Kᵀ/√d) are formed.
    Rollout needs the head-averaged maps: one (N, N) per layer (`attention_rollout`).

    Args:
        model: a `VisionTransformer`; images: (B, 3, H, W), normalized for the model.
        queries: token indices (0 = [CLS], 1 + r·w + c = patch (r, c)).
    Returns:
        rows: (layers, B, heads, Q, N); and the rollout's rows (B, Q, N), or None.
    """
    q_idx = torch.as_tensor(list(queries), device=images.device)
    rows, averaged = [], []
    for blk, qkv in zip(model.blocks, captured_qkv(model, images)):
        B, N, _ = qkv.shape
        q, k, _ = qkv.reshape(B, N, 3, blk.attn.num_heads, -1).permute(2, 0, 3, 1, 4)  # (B, heads, N, d)
        rows.append(attention_weights(q[:, :, q_idx], k, blk.attn.scale).float())  # (B, heads, Q, N)
        if rollout:
            attn = attention_weights(q, k, blk.attn.scale).float()  # (B, heads, N, N)
            averaged.append(attn.mean(1, keepdim=True))  # (B, 1, N, N): one map per layer is kept
    roll = attention_rollout(averaged, residual, queries) if rollout else None
    return torch.stack(rows), roll
