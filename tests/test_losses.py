"""Every loss in course_lib.losses (except dino_loss, tested with DINO) against a naive loop.

The loops of the homework losses (NT-Xent, CLIP, MAE) would be their solutions: they live in the
instructor-only tests/instructor/test_loss_loops.py, which the student release leaves out.

Each naive version below is the docstring formula written with Python floats and `math`, one
term at a time, so that the vectorized code is checked against the lecture and not against
itself. Each loss also passes torch.autograd.gradcheck in float64.
"""

import math

import pytest
import torch
from naive import normalize, randn, rows, sim

from course_lib.losses import clip_loss, koleo_loss, mae_loss, nt_xent_loss, simclr_pair_loss, triplet_loss

TOL = 1e-6


# ---- naive formulas ------------------------------------------------------------------------


def naive_triplet(a, p, n, margin):
    a, p, n = rows(a), rows(p), rows(n)
    terms = [max(0.0, sim(a[i], n[i]) - sim(a[i], p[i]) + margin) for i in range(len(a))]
    return sum(terms) / len(terms)


def naive_simclr_pair(x, xp, xn, tau):
    x, xp, xn = rows(x), rows(xp), rows(xn)
    total = 0.0
    for i in range(len(x)):
        pos = math.exp(sim(x[i], xp[i]) / tau)
        neg = math.exp(sim(x[i], xn[i]) / tau)
        total += -math.log(pos / (pos + neg))
    return total / len(x)


def naive_koleo(x, eps=1e-8):
    x = [normalize(r) for r in rows(x)]
    n = len(x)
    total = 0.0
    for i in range(n):
        d = min(math.sqrt(sum((a - b) ** 2 for a, b in zip(x[i], x[j]))) for j in range(n) if j != i)
        total += -math.log(d + eps)
    return total / n


# ---- value checks --------------------------------------------------------------------------


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
def test_triplet_matches_loop(gen, margin):
    a, p, n = (randn(gen, 7, 5) for _ in range(3))
    assert triplet_loss(a, p, n, margin=margin).item() == pytest.approx(
        naive_triplet(a, p, n, margin), abs=TOL
    )


def test_triplet_zero_when_positive_wins_by_margin():
    a = torch.tensor([[1.0, 0.0]])
    assert triplet_loss(a, a, -a, margin=0.2).item() == 0.0  # sim(a,p)=1, sim(a,n)=-1
    assert triplet_loss(a, -a, a, margin=0.2).item() == pytest.approx(2.2)


def test_triplet_distance_form_relation(gen):
    """For unit vectors ‖a−p‖² − ‖a−n‖² + m = 2·(sim(a,n) − sim(a,p) + m/2)."""
    a, p, n = (torch.nn.functional.normalize(randn(gen, 9, 4), dim=1) for _ in range(3))
    m = 0.3
    dist = torch.relu(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + m).mean()
    assert dist.item() == pytest.approx(2 * triplet_loss(a, p, n, margin=m / 2).item(), abs=TOL)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_simclr_pair_matches_loop(gen, tau):
    x, xp, xn = (randn(gen, 6, 4) for _ in range(3))
    assert simclr_pair_loss(x, xp, xn, temperature=tau).item() == pytest.approx(
        naive_simclr_pair(x, xp, xn, tau), abs=TOL
    )


def test_nt_xent_is_symmetric_in_views_and_scale_invariant(gen):
    z_a, z_b = randn(gen, 4, 3), randn(gen, 4, 3)
    loss = nt_xent_loss(z_a, z_b, 0.2)
    assert nt_xent_loss(z_b, z_a, 0.2).item() == pytest.approx(loss.item(), abs=TOL)
    assert nt_xent_loss(3 * z_a, 0.5 * z_b, 0.2).item() == pytest.approx(loss.item(), abs=TOL)


def test_nt_xent_one_pair_is_zero(gen):
    """N = 1: the only other view is the positive, so the softmax is certain and ℓ = 0."""
    assert nt_xent_loss(randn(gen, 1, 5), randn(gen, 1, 5)).item() == pytest.approx(0.0, abs=TOL)


def test_mae_ignores_visible_patches(gen):
    target, pred = randn(gen, 1, 4, 3), randn(gen, 1, 4, 3)
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    pred_changed = pred.clone()
    pred_changed[:, [1, 3]] += 100.0  # only visible patches change
    assert mae_loss(target, pred, mask).item() == pytest.approx(mae_loss(target, pred_changed, mask).item())


@pytest.mark.parametrize("n", [2, 5, 9])
def test_koleo_matches_loop(gen, n):
    x = randn(gen, n, 4)
    assert koleo_loss(x).item() == pytest.approx(naive_koleo(x), abs=TOL)


# ---- gradients -----------------------------------------------------------------------------


def _leaf(gen, *shape):
    return randn(gen, *shape).requires_grad_(True)


def test_gradcheck_triplet(gen):
    inputs = tuple(_leaf(gen, 5, 4) for _ in range(3))
    assert torch.autograd.gradcheck(lambda a, p, n: triplet_loss(a, p, n, margin=0.5), inputs)


def test_gradcheck_simclr_pair(gen):
    inputs = tuple(_leaf(gen, 5, 4) for _ in range(3))
    assert torch.autograd.gradcheck(lambda x, p, n: simclr_pair_loss(x, p, n, 0.3), inputs)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_gradcheck_nt_xent(gen, tau):
    inputs = (_leaf(gen, 4, 3), _leaf(gen, 4, 3))
    assert torch.autograd.gradcheck(lambda a, b: nt_xent_loss(a, b, tau), inputs)


def test_gradcheck_clip(gen):
    assert torch.autograd.gradcheck(clip_loss, (_leaf(gen, 4, 4),))


@pytest.mark.parametrize("norm_pix", [False, True])
def test_gradcheck_mae(gen, norm_pix):
    target, pred = _leaf(gen, 2, 3, 4), _leaf(gen, 2, 3, 4)
    mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t, p: mae_loss(t, p, mask, norm_pix=norm_pix), (target, pred))


def test_gradcheck_koleo(gen):
    assert torch.autograd.gradcheck(koleo_loss, (_leaf(gen, 6, 4),))
