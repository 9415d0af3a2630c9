"""OpenAI's released CLIP weights: `load_official("clip_vit_b32")`, and `load_clip(name)`, a CLIP
with its tokenizer, bundled or official.

| name | file | what it holds |
|---|---|---|
| `clip_vit_b32` | `ViT-B-32.pt` | ViT-B/32 image tower + text tower, fp16 TorchScript |
| `clip_vit_b16` | `ViT-B-16.pt` | ViT-B/16, the same text tower |

Our keys are OpenAI's, so no conversion is needed: the files store three numbers beside the
weights (`input_resolution`, `context_length`, `vocab_size`), which are dropped, and the config
is read off the shapes (`course_lib.clip.config_from_state_dict`).
"""

import warnings

import torch

from course_lib.checkpoints import (
    OFFICIAL,
    CheckpointError,
    card,
    download,
    load_pretrained,
    load_state_dict_strict,
)
from course_lib.clip import CLIP, config_from_state_dict
from course_lib.tokenizers import BPETokenizer, WordTokenizer

# OpenAI puts each file's sha256 in its address: .../models/<sha256>/<name>.pt
OPENAI_URLS = {
    "clip_vit_b32": "https://openaipublic.azureedge.net/clip/models/"
                    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "clip_vit_b16": "https://openaipublic.azureedge.net/clip/models/"
                    "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
}


def read_openai_state_dict(path):
    """A released OpenAI file (a TorchScript archive, fp16) → a float32 state dict of our keys."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still reads them
            state_dict = torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:  # a plain state-dict file instead of TorchScript
        state_dict = torch.load(str(path), map_location="cpu", weights_only=True)
    drop = ("input_resolution", "context_length", "vocab_size")  # numbers stored beside the weights
    return {k: v.float() for k, v in state_dict.items() if k not in drop}


def load_official(name):
    """OpenAI's CLIP `name` (see the table above): downloaded once, sha256 of its address checked,
    loaded strictly, in eval mode."""
    if name not in OPENAI_URLS:
        raise CheckpointError(f"No official CLIP weights named {name!r}: choose one of "
                              f"{sorted(OPENAI_URLS)}.")
    url = OPENAI_URLS[name]
    path = download(url, sha256=url.rsplit("/", 2)[-2], filename=f"openai-{url.rsplit('/', 1)[-1]}")
    state_dict = read_openai_state_dict(path)
    model = CLIP(config_from_state_dict(state_dict))
    load_state_dict_strict(model, state_dict)
    return model.eval()


def load_clip(name):
    """A CLIP by name, with what it needs around it: (model in eval mode, tokenizer, image size).

    `name` is a bundled checkpoint (its card names its word-level tokenizer) or an official one
    (CLIP's BPE tokenizer, 224 px).
    """
    model = load_pretrained(name)
    if name in OFFICIAL:
        return model, BPETokenizer(), model.config.img_size
    info = card(name).get("tokenizer", {"kind": "bpe"})
    if info["kind"] == "word":
        return model, WordTokenizer(info["words"], info["context_length"]), model.config.img_size
    return model, BPETokenizer(context_length=model.config.context_length), model.config.img_size
