def window_partition(x, window_size):
    """Windows numbered down the columns."""
    B, H, W, C = x.shape
    M = window_size
    x = x.view(B, H // M, M, W // M, M, C).permute(0, 3, 1, 2, 4, 5)
    return x.reshape(-1, M, M, C)
