"""Graded: DINO's EMA teacher update (course_lib/dino/model.py)."""

import pytest
import torch
from torch import nn

from course_lib.dino.model import update_teacher

ex = pytest.mark.exercise


@ex("ema_teacher", points=2)
def test_moves_a_fraction_towards_the_student():
    student, teacher = nn.Linear(3, 2), nn.Linear(3, 2)
    old = [p.detach().clone() for p in teacher.parameters()]
    update_teacher(student, teacher, momentum=0.9)
    for p_t, p_s, p_old in zip(teacher.parameters(), student.parameters(), old):
        assert torch.allclose(p_t, 0.9 * p_old + 0.1 * p_s, atol=1e-6)


@ex("ema_teacher", points=1)
def test_momentum_one_freezes_the_teacher():
    student, teacher = nn.Linear(3, 2), nn.Linear(3, 2)
    old = [p.detach().clone() for p in teacher.parameters()]
    update_teacher(student, teacher, momentum=1.0)
    assert all(torch.equal(a, b) for a, b in zip(teacher.parameters(), old))
