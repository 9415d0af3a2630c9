import pytest
import torch
from torch import nn

from course_lib.dino.model import update_teacher

ex = pytest.mark.exercise


@ex("ema_teacher", points=1)
def test_student_untouched_and_no_graph():
    student, teacher = nn.Linear(4, 4), nn.Linear(4, 4)
    before = [p.detach().clone() for p in student.parameters()]
    update_teacher(student, teacher, momentum=0.5)
    assert all(torch.equal(a, b) for a, b in zip(student.parameters(), before))
    assert all(p.grad_fn is None for p in teacher.parameters())
