import pytest
import torch

from course_lib.losses import dino_loss

ex = pytest.mark.exercise


@ex("dino_loss", points=1)
def test_center_and_teacher_temperature_matter():
    student, teacher = torch.randn(4, 2, 6), torch.randn(2, 2, 6)
    base = dino_loss(student, teacher, torch.zeros(6))
    assert not torch.allclose(base, dino_loss(student, teacher, torch.randn(6)))
    assert not torch.allclose(base, dino_loss(student, teacher, torch.zeros(6), teacher_temp=1.0))


@ex("dino_loss", points=1)
def test_no_gradient_to_the_teacher():
    student = torch.randn(3, 2, 5, requires_grad=True)
    teacher = torch.randn(2, 2, 5, requires_grad=True)
    dino_loss(student, teacher, torch.zeros(5)).backward()
    assert student.grad is not None and teacher.grad is None
