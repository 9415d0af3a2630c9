def threshold_attention(attn, mass=0.6):
    """Keeps patches above 60% of the maximum instead of 60% of the mass."""
    *lead, h, w = attn.shape
    flat = attn.reshape(-1, h * w).float()
    keep = flat >= mass * flat.max(dim=-1, keepdim=True).values
    return keep.reshape(*lead, h, w)
