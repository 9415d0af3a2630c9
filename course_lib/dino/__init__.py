"""DINO (Caron et al. 2021): self-distillation with no labels, and DINOv2's ingredients.

    two global + several local crops of one image           (course_lib.data.augment.MultiCrop)
      → student = MultiCropWrapper(ViT, DINOHead)        every crop    → (n_crops·B, K)
      → teacher = EMA copy of the student, no gradient    global crops  → (2·B, K)
      → DINOLoss: teacher centred (−c) and sharpened (τ_t = 0.04), student at τ_s = 0.1,
        cross-entropy over every (teacher view, other student view) pair (course_lib.losses.dino_loss)

| module | holds |
|---|---|
| `model` | `DINOHead`, `MultiCropWrapper`, the EMA teacher (`make_teacher`, `update_teacher`) |
| `loss` | `DINOLoss` (EMA centre or Sinkhorn-Knopp, teacher-temperature warm-up), `sinkhorn_knopp` |

Elsewhere: the recipe and the one training step in `course_lib.train.recipes.dino`, the official
weights in `course_lib.official.dino`, attention rows and rollout in `course_lib.evaluate.attention_maps`,
the experiments in `course_lib.experiments.dino` and `.dino_collapse`. The names below are imported
on first use; importing this package imports nothing else and registers nothing.
"""

import importlib

_EXPORTS = {
    "DINOHead": "course_lib.dino.model",
    "MultiCropWrapper": "course_lib.dino.model",
    "OLD_TO_NEW_WEIGHT_NORM": "course_lib.dino.model",
    "cosine_schedule": "course_lib.dino.model",
    "freeze_last_layer": "course_lib.dino.model",
    "group_by_size": "course_lib.dino.model",
    "make_teacher": "course_lib.dino.model",
    "teacher_momentum": "course_lib.dino.model",
    "unwrap_state_dict": "course_lib.dino.model",
    "update_teacher": "course_lib.dino.model",
    "DINOLoss": "course_lib.dino.loss",
    "DINOLossConfig": "course_lib.dino.loss",
    "collapse_metrics": "course_lib.dino.loss",
    "sinkhorn_knopp": "course_lib.dino.loss",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'course_lib.dino' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
