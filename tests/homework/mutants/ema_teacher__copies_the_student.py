@torch.no_grad()
def update_teacher(student, teacher, momentum):
    """Copies the student instead of averaging (momentum ignored)."""
    for p_s, p_t in zip(student.parameters(), teacher.parameters()):
        p_t.copy_(p_s)
