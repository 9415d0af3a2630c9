"""Feature maps: the first three principal components of a ViT's patch features, as RGB.

DINOv2 (Oquab et al. 2023, Figure 1) fits a PCA to the last layer's patch features and shows the
first three components as the red, green and blue of each patch: patches the model describes
alike get alike colours, so object parts show up without any label. Its foreground-only variant
thresholds the first component to drop the background, refits the PCA on the patches that remain
and colours only those.

    patch_tokens(model, x)      (B, C, H, W) → (B, L, D), [CLS] dropped
    pca_project(feats, k)       (N, D) → (N, k) coordinates on the top-k principal directions
    minmax_scale(coords)        (N, k) → (N, k), each component stretched to [0, 1]
    foreground_side(first, h)   (N,) first component → (N,) bool, the sign chosen by the border
    pca_rgb(feats, h, w, ...)   (L, D) → rgb (h, w, 3) in [0, 1], foreground (h, w) bool

Tensors in, tensors out: no figure, no checkpoint.
"""

import torch


@torch.no_grad()
def patch_tokens(model, x):
    """The last layer's patch features of a ViT-like model (`forward_features` → (B, 1 + L, D)).

    Args:
        model: a `VisionTransformer`, or an MAE (whose `forward_features` encodes every patch,
            nothing masked, in patch order).
        x: (B, C, H, W) standardized images.
    Returns:
        (B, L, D): one feature per patch, the [CLS] token left out.
    """
    if not hasattr(model, "forward_features"):
        raise ValueError(f"{type(model).__name__} has no patch features (no `forward_features`): "
                         "pick a vision transformer.")
    tokens = model.forward_features(x)  # (B, 1 + L, D)
    if tokens.ndim != 3:
        raise ValueError(f"{type(model).__name__} returns one vector per image, not one per patch: "
                         "pick a vision transformer.")
    return tokens[:, 1:]  # (B, L, D)


def pca_project(features, k=3):
    """Coordinates of each row on the top-k principal directions (PCA by an SVD).

    Args:
        features: (N, D), one row per patch.
        k: number of components kept.
    Returns:
        (N, k). Fewer than k directions exist when N ≤ k; the missing columns are zeros. Each
        direction's sign is fixed so that its largest loading is positive (as scikit-learn does),
        which makes the colours reproducible; the sign itself carries no meaning.
    """
    N, D = features.shape
    centred = features.float() - features.float().mean(dim=0, keepdim=True)  # (N, D)
    U, S, Vh = torch.linalg.svd(centred, full_matrices=False)  # U (N, r), S (r,), Vh (r, D), r = min(N, D)
    directions = Vh[:k]  # (k', D), k' = min(k, r)
    biggest = directions.abs().argmax(dim=1)  # (k',)
    signs = torch.sign(directions[torch.arange(len(directions)), biggest])  # (k',)
    coords = centred @ (directions * signs[:, None]).T  # (N, D) @ (D, k') → (N, k')
    if coords.shape[1] < k:
        coords = torch.cat([coords, coords.new_zeros(N, k - coords.shape[1])], dim=1)  # (N, k)
    return coords


def minmax_scale(coords, eps=1e-8):
    """Stretch each column to [0, 1] (its min → 0, its max → 1); a constant column becomes 0.5."""
    low = coords.min(dim=0, keepdim=True).values  # (1, k)
    span = coords.max(dim=0, keepdim=True).values - low  # (1, k)
    scaled = (coords - low) / span.clamp_min(eps)  # (N, k)
    return torch.where(span > eps, scaled, torch.full_like(scaled, 0.5))  # (N, k)


def border_of(h, w):
    """(h * w,) bool, row-major: True for the patches on the image's edge."""
    edge = torch.zeros(h, w, dtype=torch.bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return edge.reshape(-1)  # (h * w,)


def foreground_side(first, h, w):
    """Which patches the first principal component puts on the object's side.

    A principal direction's sign is arbitrary (v and −v explain the same variance), so the
    threshold "first component > 0" alone would keep the background half the time. We orient
    it by the image's border: objects rarely touch the edge of a photo (and never in ShapesWorld),
    so the side where the border patches lie on average is the background. The threshold 0 is the
    mean over all patches, which lies between the two groups however many patches each holds.

    Args:
        first: (h * w,) first-component coordinates, row-major.
    Returns:
        (h * w,) bool, True = foreground.
    """
    if first[border_of(h, w)].mean() > 0:  # the border on the positive side: flip the direction
        first = -first
    return first > 0  # (h * w,)


def pca_rgb(features, h, w, foreground_only=False):
    """The first three principal components of the patch features as an RGB map.

    Args:
        features: (h * w, D) patch features in row-major patch order.
        foreground_only: DINOv2's variant: fit on all patches, keep the foreground side of the
            first component (`foreground_side`), refit the PCA on those patches only and colour
            them; the background is black.
    Returns:
        rgb (h, w, 3) in [0, 1] and foreground (h, w) bool (all True without the option).
    """
    L, D = features.shape
    if L != h * w:
        raise ValueError(f"{L} patch features do not fill a {h}×{w} grid.")
    keep = torch.ones(L, dtype=torch.bool)  # (L,)
    if foreground_only:
        keep = foreground_side(pca_project(features, 1)[:, 0], h, w)  # (L,)
    rgb = torch.zeros(L, 3)  # (L, 3), background black
    if keep.any():
        rgb[keep] = minmax_scale(pca_project(features[keep], 3))  # (n_kept, 3), refit on the kept
    return rgb.reshape(h, w, 3), keep.reshape(h, w)
