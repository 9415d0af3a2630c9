def dino_loss(student_logits, teacher_logits, center, student_temp=0.1, teacher_temp=0.04):
    """Also scores a global view against itself."""
    targets = F.softmax((teacher_logits.detach() - center) / teacher_temp, dim=-1)
    log_probs = F.log_softmax(student_logits / student_temp, dim=-1)
    return -torch.einsum("tbk,sbk->tsb", targets, log_probs).mean()
