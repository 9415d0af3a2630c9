"""Every loss of the lecture, side by side.

Each function states its formula from the lecture in the docstring, works on a batch, and is
tested against a naive loop of that formula (tests/test_losses.py). Cosine similarity is
sim(u, v) = uᵀv / (‖u‖ ‖v‖) throughout.
"""

import torch
import torch.nn.functional as F


def cosine(u, v):
    """Row-wise cosine similarity: (B, D), (B, D) → (B,)."""
    return F.cosine_similarity(u, v, dim=-1, eps=1e-8)


def triplet_loss(anchor, positive, negative, margin=0.2):
    """Triplet loss in cosine-similarity form.

        L = mean_i max(0, sim(a_i, n_i) − sim(a_i, p_i) + margin)

    The slide's distance form is max(0, ‖a − p‖² − ‖a − n‖² + margin). For ℓ2-normalized
    embeddings ‖u − v‖² = 2 − 2·sim(u, v), so the two agree up to a factor 2 on the margin: pull the
    positive closer than the negative by at least the margin, and stop caring once it is.

    Args:
        anchor, positive, negative: (B, D) embeddings (need not be normalized).
    Returns:
        scalar.
    """
    return F.relu(cosine(anchor, negative) - cosine(anchor, positive) + margin).mean()


def simclr_pair_loss(x, x_pos, x_neg, temperature=0.5):
    """The slide's contrastive loss with one positive and one negative.

        L = −log( exp(s⁺/τ) / (exp(s⁺/τ) + exp(s⁻/τ)) ),  s⁺ = sim(x, x⁺), s⁻ = sim(x, x⁻)

    averaged over the batch. It is a 2-way softmax classification: "which of the two is my
    positive?". The temperature τ sets how hard the classifier pushes on near-misses.

    Args:
        x, x_pos, x_neg: (B, D).
    Returns:
        scalar.
    """
    logits = torch.stack([cosine(x, x_pos), cosine(x, x_neg)], dim=1) / temperature  # (B, 2)
    return -logits.log_softmax(dim=1)[:, 0].mean()  # column 0 holds the positive


def nt_xent_loss(z_a, z_b, temperature=0.5):
    """SimCLR's NT-Xent (Algorithm 1 of Chen et al. 2020).

    The 2N projections z_1..z_2N are the two views of N examples. For a positive pair (i, j):

        ℓ(i, j) = −log( exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ) ),   s = cosine similarity

        L = 1/(2N) Σ_k [ℓ(2k−1, 2k) + ℓ(2k, 2k−1)]

    Every other view in the batch (2N − 2 of them) is a negative; k ≠ i removes the trivial
    similarity of a view with itself (which is always 1 and would carry no signal).

    Args:
        z_a: (N, D) projections of the first view of each example.
        z_b: (N, D) projections of the second view; z_a[k] and z_b[k] form the positive pair.
    Returns:
        scalar.
    """
    # BEGIN SOLUTION
    N = z_a.shape[0]
    z = F.normalize(torch.cat([z_a, z_b], dim=0), dim=1)  # (2N, D) unit vectors
    logits = z @ z.T / temperature  # (2N, 2N) s_ik / τ
    self_mask = torch.eye(2 * N, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # k ≠ i in the denominator
    positives = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)]).to(z.device)  # (2N,)
    return F.cross_entropy(logits, positives)  # mean over all 2N anchors = both orders
    # END SOLUTION


def clip_loss(logits_per_image):
    """CLIP's symmetric cross-entropy (the paper's Figure 3 pseudo-code).

        labels = arange(n)
        loss_i = cross_entropy(logits, labels, axis=0)   # each image picks its text
        loss_t = cross_entropy(logits, labels, axis=1)   # each text picks its image
        loss   = (loss_i + loss_t) / 2

    Args:
        logits_per_image: (n, n), [i, j] = scaled cosine similarity of image i and text j.
    Returns:
        scalar.
    """
    # BEGIN SOLUTION
    n = logits_per_image.shape[0]
    labels = torch.arange(n, device=logits_per_image.device)
    image_to_text = F.cross_entropy(logits_per_image, labels)
    text_to_image = F.cross_entropy(logits_per_image.T, labels)
    return (image_to_text + text_to_image) / 2
    # END SOLUTION


def mae_loss(target, pred, mask, norm_pix=False):
    """MAE's loss: mean squared error on the pixels of the *removed* patches only.

        L = Σ_i m_i · mean_j (pred_ij − target_ij)²  /  Σ_i m_i     (m_i = 1 if patch i was removed)

    Why not cross-entropy as in BERT? Pixels are continuous, so the natural reconstruction loss
    is a regression (MSE). Why only masked patches? The visible ones are copied through by the
    encoder; scoring them rewards copying, not understanding (the paper: +0.5–1% accuracy).
    With `norm_pix`, each target patch is normalized by its own mean and variance, which makes
    the model reconstruct local contrast rather than absolute brightness (better features).

    Args:
        target: (B, L, p*p*3) patchified images.
        pred: (B, L, p*p*3) the decoder's predictions.
        mask: (B, L), 1 = removed, 0 = visible.
    Returns:
        scalar.
    """
    # BEGIN SOLUTION
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)  # unbiased, as in the official code
        target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, L)
    return (per_patch * mask).sum() / mask.sum()
    # END SOLUTION


def koleo_loss(x, eps=1e-8):
    """KoLeo regularizer (DINOv2, after Kozachenko–Leonenko's entropy estimator).

        L = −1/n Σ_i log(d_i),  d_i = min_{j≠i} ‖x̂_i − x̂_j‖,  x̂ = x / ‖x‖

    It pushes every feature away from its nearest neighbour, spreading the batch uniformly.

    Args:
        x: (n, D) features, n ≥ 2.
    Returns:
        scalar.
    """
    x = F.normalize(x, dim=-1, eps=eps)  # (n, D)
    with torch.no_grad():
        dots = x @ x.T  # (n, n)
        dots.fill_diagonal_(-2.0)  # never pick yourself
        nearest = dots.argmax(dim=1)  # (n,) on the unit sphere: max dot = min distance
    distances = F.pairwise_distance(x, x[nearest], eps=eps)  # (n,)
    return -torch.log(distances + eps).mean()


def dino_loss(student_logits, teacher_logits, center, student_temp=0.1, teacher_temp=0.04):
    """DINO's self-distillation cross-entropy with centering and sharpening.

        P_t = softmax((g_t(x) − c) / τ_t)   (teacher: centred, then sharpened by a low τ_t)
        P_s = softmax(g_s(x′) / τ_s)
        L = mean over pairs (t ∈ global views, s ∈ all views, s ≠ t) of  −Σ_k P_t[k] log P_s[k]

    Why centering: subtracting the running mean c keeps one dimension from dominating for every
    image (collapse to a constant one-hot). Why sharpening: a low teacher temperature keeps the
    targets peaked, against the opposite collapse to a uniform output. The two balance each other.
    The teacher gets no gradient.

    Args:
        student_logits: (n_crops, B, K); crops 0 and 1 are the two global views.
        teacher_logits: (2, B, K) for the two global views.
        center: (K,) or (1, K), the running mean of the teacher's logits.
    Returns:
        scalar.
    """
    # BEGIN SOLUTION
    targets = F.softmax((teacher_logits.detach() - center) / teacher_temp, dim=-1)  # (2, B, K)
    log_probs = F.log_softmax(student_logits / student_temp, dim=-1)  # (n_crops, B, K)
    # cross[t, s] = mean over the batch of H(P_t, P_s): (2, n_crops)
    cross = -torch.einsum("tbk,sbk->tsb", targets, log_probs).mean(dim=-1)
    same_view = torch.zeros_like(cross, dtype=torch.bool)
    same_view[0, 0] = same_view[1, 1] = True  # a global view is never its own target
    return cross[~same_view].mean()
    # END SOLUTION
