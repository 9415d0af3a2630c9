"""Graded: CLIP's zero-shot classifier (course_lib/evaluate/clip.py)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.clip import clip_shapes_tiny
from course_lib.evaluate.clip import zero_shot_classify
from course_lib.tokenizers import WordTokenizer

ex = pytest.mark.exercise
WORDS = "a photo of red blue green circle square small large".split()


def setup():
    torch.manual_seed(0)
    model = clip_shapes_tiny().eval()
    tok = WordTokenizer(WORDS, context_length=model.config.context_length)
    size = model.config.img_size
    return model, tok, torch.rand(3, 3, size, size)


def naive(model, tok, images, classes, templates):
    with torch.no_grad():
        img = F.normalize(model.encode_image(images), dim=-1)
        rows = []
        for c in classes:
            embs = [F.normalize(model.encode_text(tok([t.format(c)])), dim=-1)[0] for t in templates]
            rows.append(F.normalize(torch.stack(embs).mean(0), dim=0))
        return (model.logit_scale.exp().clamp(max=100) * img @ torch.stack(rows).T).softmax(-1)


@ex("zero_shot_classify", points=1)
def test_probabilities():
    model, tok, images = setup()
    probs = zero_shot_classify(model, images, ["red circle", "blue square"], tokenizer=tok)
    assert probs.shape == (3, 2)
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)


@ex("zero_shot_classify", points=3)
def test_prompt_ensemble_equals_definition():
    model, tok, images = setup()
    classes, templates = ["red circle", "blue square", "green circle"], ["a {}", "a photo of a small {}"]
    got = zero_shot_classify(model, images, classes, templates=templates, tokenizer=tok)
    assert torch.allclose(got, naive(model, tok, images, classes, templates), atol=1e-5)
