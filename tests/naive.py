"""Plain-Python helpers for the naive loops the losses are checked against: lists of floats and
`math`, one term at a time, so that the vectorized code is checked against the formula and not
against itself. Shared by tests/test_losses.py and the instructor's tests/instructor/."""

import math

import torch


def rows(t):
    """A tensor as nested lists of Python floats (float64 first)."""
    return t.detach().double().tolist()


def dot(u, v):
    return sum(a * b for a, b in zip(u, v))


def norm(u):
    return math.sqrt(dot(u, u))


def sim(u, v):
    """Cosine similarity of two lists."""
    return dot(u, v) / (norm(u) * norm(v))


def normalize(u):
    n = norm(u)
    return [a / n for a in u]


def randn(gen, *shape):
    """float64 normal noise from the test's generator."""
    return torch.randn(*shape, generator=gen, dtype=torch.float64)
