def sincos_2d(embed_dim, grid_size, cls_token=False):
    """Row in the first half, column in the second (transformers' order, not the official MAE one)."""
    h, w = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    table = torch.cat([sincos_1d(embed_dim // 2, rows), sincos_1d(embed_dim // 2, cols)], dim=1)
    if cls_token:
        table = torch.cat([torch.zeros(1, embed_dim), table], dim=0)
    return table
