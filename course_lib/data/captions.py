"""ShapesWorld image–caption pairs for CLIP: the word-level tokenizer, the pairs rendered once, and
the step that turns stored images into model input.

    tok = shapes_tokenizer()                      # ShapesWorld's caption words + PROMPT_WORDS
    data = render_captions(40000, 64, 0, "train")  # uint8 images, token ids, captions, objects
    x = to_model_input(data.images[:256], translate=4)  # shifted ≤ 4 px, standardized as OpenAI's

Each pair is (image, its caption: "a large red triangle above a small blue circle"). The train
split never shows six colour × shape pairs (ShapesWorld.HELD_OUT), so an evaluation can ask
whether CLIP composes "purple" and "circle" it only saw apart.
"""

from dataclasses import replace
from functools import lru_cache

import torch
from torch.utils.data import Dataset

from course_lib.data.augment import random_shift
from course_lib.data.rendered import OPENAI_MEAN, OPENAI_STD, standardize
from course_lib.data.shapes import DIFFICULTIES, ShapesWorld
from course_lib.tokenizers import WordTokenizer

# Words a prompt may use besides the captions' own (they are never trained: prompts with them
# show what an unseen word does).
PROMPT_WORDS = ("photo", "picture", "image", "an", "shape", "object", "with", "in", "on", "this", "is")

# The prompts compared in the card (the paper: a template +1.3 points, ensembling +3.5 more).
PROMPTS = {
    "no_template": ("{}",),
    "template": ("a {}",),
    "ensemble": ("a large {}", "a small {}"),  # captions always give a size: average over it
}


def shapes_tokenizer(context_length=16):
    """The word-level tokenizer of clip-shapes: ShapesWorld's caption words + PROMPT_WORDS."""
    return WordTokenizer([*ShapesWorld.vocabulary(), *PROMPT_WORDS], context_length)


class RenderedCaptions(Dataset):
    """ShapesWorld rendered once: images uint8 (N, 3, H, W), tokens (N, T), captions, objects."""

    def __init__(self, images, tokens, captions, objects):
        self.images, self.tokens, self.captions, self.objects = images, tokens, captions, objects

    def __len__(self):
        return len(self.captions)

    def __getitem__(self, i):
        return {"image": self.images[i], "tokens": self.tokens[i]}

    def get_batch(self, indices):
        idx = torch.as_tensor(indices)
        return {"image": self.images[idx], "tokens": self.tokens[idx]}


@lru_cache(maxsize=8)
def render_captions(size, img_size=64, seed=0, split="train", objects=(1, 2), chunk=500):
    """`size` ShapesWorld items (medium difficulty, `objects` per image), rendered once."""
    world = ShapesWorld(size, img_size, seed, split, replace(DIFFICULTIES["medium"], objects=objects))
    images, captions, objs = [], [], []
    for start in range(0, size, chunk):
        batch = world.batch(range(start, min(size, start + chunk)))
        images.append((batch["image"] * 255).round().to(torch.uint8))  # (b, 3, H, W)
        captions += batch["caption"]
        objs += [[{k: o[k] for k in ("shape", "color", "size_word")} for o in b] for b in batch["objects"]]
    return RenderedCaptions(torch.cat(images), shapes_tokenizer()(captions), captions, objs)


def to_model_input(images_uint8, translate=0):
    """uint8 (B, 3, H, W) → float, randomly shifted by ≤ `translate` px, standardized with
    OpenAI's statistics (as `course_lib.clip.preprocess` does): (B, 3, H, W)."""
    x = images_uint8.float() / 255.0
    if translate:
        x = random_shift(x, translate)
    return standardize(x, OPENAI_MEAN, OPENAI_STD)
