def clip_loss(logits_per_image):
    """Only image-to-text: the text-to-image term is missing."""
    labels = torch.arange(logits_per_image.shape[0])
    return F.cross_entropy(logits_per_image, labels)
