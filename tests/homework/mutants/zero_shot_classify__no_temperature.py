@torch.no_grad()
def zero_shot_classify(model, images, classnames, templates=None, tokenizer=None, text_features=None):
    """Softmax of raw cosine similarities: forgets CLIP's learned temperature."""
    if not classnames:
        raise ValueError("zero_shot_classify needs at least one class name.")
    if text_features is None:
        text_features = class_embeddings(model, tokenizer or default_tokenizer(), classnames, templates)
    image = model.encode_image(images, normalize=True)
    return (image @ text_features.T).softmax(dim=-1)
