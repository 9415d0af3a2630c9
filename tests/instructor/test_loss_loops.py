"""Instructor only (left out of the student release): the homework losses against naive loops.

Each loop is the docstring formula with Python floats, one term at a time: it is the solution,
so it may not sit in a public test. Moved here unchanged from tests/test_losses.py.
"""

import math

import pytest
import torch
from naive import randn, rows, sim

from course_lib.losses import clip_loss, mae_loss, nt_xent_loss

TOL = 1e-6


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def naive_nt_xent(z_a, z_b, tau):
    """Algorithm 1 with z_1..z_2N interleaved: z_{2k-1} = z_a[k], z_{2k} = z_b[k] (1-based)."""
    N = len(z_a)
    z = []
    for k in range(N):
        z += [rows(z_a)[k], rows(z_b)[k]]

    def ell(i, j):  # 0-based indices
        denom = sum(math.exp(sim(z[i], z[k]) / tau) for k in range(2 * N) if k != i)
        return -math.log(math.exp(sim(z[i], z[j]) / tau) / denom)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(N)) / (2 * N)


def _log_softmax_pick(row, target):
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return row[target] - lse


def naive_clip(logits):
    L = rows(logits)
    n = len(L)
    image_to_text = -sum(_log_softmax_pick(L[i], i) for i in range(n)) / n
    columns = [[L[i][j] for i in range(n)] for j in range(n)]
    text_to_image = -sum(_log_softmax_pick(columns[j], j) for j in range(n)) / n
    return (image_to_text + text_to_image) / 2


def naive_mae(target, pred, mask, norm_pix):
    target, pred, mask = rows(target), rows(pred), rows(mask)  # (B, L, P), (B, L, P), (B, L)
    num, den = 0.0, 0.0
    for b in range(len(target)):
        for i in range(len(target[b])):
            t = target[b][i]
            if norm_pix:
                mean = sum(t) / len(t)
                var = sum((v - mean) ** 2 for v in t) / (len(t) - 1)  # unbiased, as the official code
                t = [(v - mean) / math.sqrt(var + 1e-6) for v in t]
            err = sum((p - v) ** 2 for p, v in zip(pred[b][i], t)) / len(t)
            num += mask[b][i] * err
            den += mask[b][i]
    return num / den


@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("N", [1, 2, 5])
def test_nt_xent_matches_algorithm_1(gen, tau, N):
    z_a, z_b = randn(gen, N, 6), randn(gen, N, 6)
    assert nt_xent_loss(z_a, z_b, temperature=tau).item() == pytest.approx(
        naive_nt_xent(z_a, z_b, tau), abs=TOL
    )


def test_nt_xent_float32_close_to_loop(gen):
    z_a, z_b = randn(gen, 8, 16).float(), randn(gen, 8, 16).float()
    assert nt_xent_loss(z_a, z_b, 0.5).item() == pytest.approx(naive_nt_xent(z_a, z_b, 0.5), abs=1e-5)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_clip_matches_loop(gen, n):
    logits = 5 * randn(gen, n, n)
    assert clip_loss(logits).item() == pytest.approx(naive_clip(logits), abs=TOL)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_mae_matches_loop(gen, norm_pix):
    B, L, P = 2, 6, 12
    target, pred = randn(gen, B, L, P), randn(gen, B, L, P)
    mask = (torch.rand(B, L, generator=gen) < 0.75).double()
    mask[:, 0] = 1.0  # at least one removed patch per image
    assert mae_loss(target, pred, mask, norm_pix=norm_pix).item() == pytest.approx(
        naive_mae(target, pred, mask, norm_pix), abs=TOL
    )
