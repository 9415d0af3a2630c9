def patchify(imgs, patch_size):
    """Channel order wrong: (channel, row, column) inside each patch."""
    B, C, H, W = imgs.shape
    p = patch_size
    h, w = H // p, W // p
    x = imgs.reshape(B, C, h, p, w, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, h * w, p * p * C)
