def explicit_attention(q, k, v, scale, attn_drop=None):
    """Forgets the 1/sqrt(d) scale."""
    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    return attn @ v, attn
