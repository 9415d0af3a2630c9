def random_masking(x, mask_ratio, noise=None):
    """One noise row shared by the whole batch: every sample gets the same mask."""
    B, L, D = x.shape
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(1, L, device=x.device).expand(B, L)
    else:
        noise = noise[:1].expand(B, L)
    return keep_by_noise(x, noise, len_keep)
