def patchify(imgs, patch_size):
    """Patches numbered down the columns instead of along the rows."""
    B, C, H, W = imgs.shape
    p = patch_size
    h, w = H // p, W // p
    x = imgs.reshape(B, C, h, p, w, p).permute(0, 4, 2, 3, 5, 1)
    return x.reshape(B, h * w, p * p * C)
