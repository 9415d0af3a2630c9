def nt_xent_loss(z_a, z_b, temperature=0.5):
    """Averages only l(2k-1, 2k), never l(2k, 2k-1)."""
    N = z_a.shape[0]
    z = F.normalize(torch.cat([z_a, z_b], dim=0), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * N, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits[:N], torch.arange(N, 2 * N))
