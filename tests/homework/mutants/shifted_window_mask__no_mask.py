def shifted_window_mask(H, W, window_size, shift_size):
    """Forgets the mask: tokens attend across regions that were not neighbours."""
    nW = (H // window_size) * (W // window_size)
    return torch.zeros(nW, window_size**2, window_size**2)
