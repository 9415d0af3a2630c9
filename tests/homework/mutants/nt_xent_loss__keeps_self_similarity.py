def nt_xent_loss(z_a, z_b, temperature=0.5):
    """Keeps k = i (the similarity of a view with itself) in the denominator."""
    N = z_a.shape[0]
    z = F.normalize(torch.cat([z_a, z_b], dim=0), dim=1)
    logits = z @ z.T / temperature
    positives = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)])
    return F.cross_entropy(logits, positives)
