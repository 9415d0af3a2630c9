"""Graded: DINO's 60%-mass rule behind the attention Jaccard (course_lib/evaluate/attention_maps.py)."""

import pytest
import torch

from course_lib.evaluate import attention_jaccard, threshold_attention

ex = pytest.mark.exercise


@ex("attention_jaccard", points=2)
def test_keeps_the_smallest_set_holding_the_mass():
    attn = torch.tensor([[0.5, 0.2], [0.2, 0.1]])
    assert threshold_attention(attn, 0.6).tolist() == [[True, True], [False, False]] or \
        threshold_attention(attn, 0.6).tolist() == [[True, False], [True, False]]
    assert threshold_attention(attn, 0.5).sum() == 1


@ex("attention_jaccard", points=1)
def test_jaccard_of_a_perfect_map_is_one():
    attn = torch.zeros(4, 4)
    attn[1:3, 1:3] = 1.0
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    assert attention_jaccard(attn, mask, mass=0.99) == pytest.approx(1.0)
