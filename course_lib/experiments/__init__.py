"""Every command that writes `data/results/`: `python -m course_lib.experiments NAME [options]`.

| name | module | what it measures |
|---|---|---|
| `simclr` | `contrastive` | SimCLR's ablations: temperature, batch size, augmentations, losses, colour |
| `dino` | `dino` | DINO vs supervised vs random init: attention Jaccard, what the features know |
| `dino-collapse` | `dino_collapse` | centering and sharpening: the three regimes of the slide |
| `mae` | `mae` | MAE's ablations: masking ratio, target, loss on masked patches, augmentation |
| `clip` | `clip` | CLIP on ShapesWorld: zero-shot, retrieval, relations, the pointing game |
| `feature-maps` | `feature_maps` | the Feature maps page's foreground-only PCA against the true masks |
| `ssl-cues` | `ssl_cues` | what every bundled encoder's features know: shape, colour, pattern, size, ... |
| `ssl-diagnostics` | `ssl_diagnostics` | why SimCLR misses the shape: views, width, labelled controls |
| `vit-vs-cnn` | `vit_vs_cnn` | "when is a ViT worth it?": accuracy against training-set size |
| `label-efficiency` | `label_efficiency` | accuracy against labels per class: SSL features vs from scratch |

Each module has a `main(argv)`; `python -m course_lib.experiments NAME --help` lists its options.
Experiments sit above everything else in the library: they train (course_lib.train), load
checkpoints, evaluate and draw, and nothing imports them.
"""

import importlib

EXPERIMENTS = {
    "simclr": "course_lib.experiments.contrastive",
    "dino": "course_lib.experiments.dino",
    "dino-collapse": "course_lib.experiments.dino_collapse",
    "mae": "course_lib.experiments.mae",
    "clip": "course_lib.experiments.clip",
    "feature-maps": "course_lib.experiments.feature_maps",
    "ssl-cues": "course_lib.experiments.ssl_cues",
    "ssl-diagnostics": "course_lib.experiments.ssl_diagnostics",
    "vit-vs-cnn": "course_lib.experiments.vit_vs_cnn",
    "label-efficiency": "course_lib.experiments.label_efficiency",
}


class ExperimentError(ValueError):
    """An unknown experiment name: one sentence listing the known ones."""


def run(name, argv=None):
    """Run experiment `name` with command-line options `argv` (a list of strings)."""
    if name not in EXPERIMENTS:
        raise ExperimentError(f"Unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(EXPERIMENTS[name]).main(argv)
