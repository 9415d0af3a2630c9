@torch.no_grad()
def class_embeddings(model, tokenizer, classnames, templates=None):
    """Averages unnormalized prompt embeddings."""
    templates = list(templates or DEFAULT_TEMPLATES)
    texts = [t.format(c) for c in classnames for t in templates]
    emb = model.encode_text(tokenizer(texts), normalize=False)
    emb = emb.view(len(classnames), len(templates), -1).mean(dim=1)
    return F.normalize(emb, dim=-1)
