import pytest
import torch

from course_lib.clip import clip_shapes_tiny
from course_lib.evaluate.clip import class_embeddings
from course_lib.tokenizers import WordTokenizer

ex = pytest.mark.exercise


@ex("zero_shot_classify", points=1)
def test_class_embeddings_are_unit_vectors():
    model = clip_shapes_tiny().eval()
    tok = WordTokenizer("a red blue circle large".split(), context_length=model.config.context_length)
    emb = class_embeddings(model, tok, ["red circle", "blue circle"], ["a {}", "a large {}"])
    assert emb.shape[0] == 2
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
