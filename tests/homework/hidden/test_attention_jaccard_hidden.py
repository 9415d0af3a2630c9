import pytest
import torch

from course_lib.evaluate import threshold_attention

ex = pytest.mark.exercise


def naive(attn, mass):
    values = sorted(((v, i) for i, v in enumerate(attn.flatten().tolist())), reverse=True)
    total, kept, acc = sum(v for v, _ in values), set(), 0.0
    for v, i in values:
        if acc >= mass * total:
            break
        kept.add(i)
        acc += v
    return torch.tensor([i in kept for i in range(attn.numel())]).reshape(attn.shape)


@ex("attention_jaccard", points=2)
def test_equals_the_mass_rule_not_a_fraction_of_the_maximum():
    torch.manual_seed(1)
    attn = torch.rand(6, 6) ** 3
    for mass in (0.3, 0.6, 0.9):
        assert torch.equal(threshold_attention(attn, mass), naive(attn, mass))
