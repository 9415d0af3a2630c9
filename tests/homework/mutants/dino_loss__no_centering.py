def dino_loss(student_logits, teacher_logits, center, student_temp=0.1, teacher_temp=0.04):
    """Forgets to subtract the center from the teacher's logits."""
    targets = F.softmax(teacher_logits.detach() / teacher_temp, dim=-1)
    log_probs = F.log_softmax(student_logits / student_temp, dim=-1)
    cross = -torch.einsum("tbk,sbk->tsb", targets, log_probs).mean(dim=-1)
    same = torch.zeros_like(cross, dtype=torch.bool)
    same[0, 0] = same[1, 1] = True
    return cross[~same].mean()
