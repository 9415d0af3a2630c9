@torch.no_grad()
def update_teacher(student, teacher, momentum):
    """θ_t ← (1 − m) θ_t + m θ_s: the weights of the two terms swapped."""
    for p_s, p_t in zip(student.parameters(), teacher.parameters()):
        p_t.mul_(1 - momentum).add_(p_s.detach(), alpha=momentum)
