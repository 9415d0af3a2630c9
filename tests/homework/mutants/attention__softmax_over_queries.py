def explicit_attention(q, k, v, scale, attn_drop=None):
    """Softmax over the wrong axis (the queries)."""
    attn = (q @ k.transpose(-2, -1) * scale).softmax(dim=-2)
    return attn @ v, attn
