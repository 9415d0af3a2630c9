def mae_loss(target, pred, mask, norm_pix=False):
    """Scores every patch, visible ones included."""
    if norm_pix:
        mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6) ** 0.5
    return ((pred - target) ** 2).mean()
