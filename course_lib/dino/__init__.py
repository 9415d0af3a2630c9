"""DINO (Caron et al. 2021): self-distillation with no labels, and DINOv2's ingredients.

    two global + several local crops of one image
      → student = MultiCropWrapper(ViT, DINOHead)        every crop    → (n_crops·B, K)
      → teacher = EMA copy of the student, no gradient    global crops  → (2·B, K)
      → DINOLoss: teacher centred (−c) and sharpened (τ_t = 0.04), student at τ_s = 0.1,
        cross-entropy over every (teacher view, other student view) pair

One concept per module:

| module | holds |
|---|---|
| `model` | `DINOHead`, `MultiCropWrapper`, the EMA teacher (`make_teacher`, `update_teacher`) |
| `loss` | `DINOLoss` (EMA centre or Sinkhorn-Knopp, teacher-temperature warm-up), `sinkhorn_knopp` |
| `multicrop` | `batch_multicrop`: 2 global + N local crops of a whole batch on the device |
| `collapse` | `train_step`, and the centering/sharpening collapse runs of the slide |
| `recipe` | the `dino` recipe of `python -m course_lib.train` |
| `official` | the official DINO backbones and full training checkpoints |
| `analysis` | attention rows, rollout; DINO vs supervised vs random (`python -m course_lib.dino compare`) |

Importing this package registers the `dino` recipe with the engine (nothing else happens).
"""

from course_lib.dino.analysis import attention_rows, compare_attention, comparison_models, main
from course_lib.dino.collapse import (
    REGIMES,
    CollapseConfig,
    classify_regime,
    collapse_experiment,
    collapse_run,
    random_crops,
    tiny_dino,
    train_step,
)
from course_lib.dino.loss import (
    DINOLoss,
    DINOLossConfig,
    collapse_metrics,
    cross_entropy_pairs,
    sinkhorn_knopp,
)
from course_lib.dino.model import (
    DINOHead,
    MultiCropWrapper,
    cosine_schedule,
    freeze_last_layer,
    group_by_size,
    make_teacher,
    teacher_momentum,
    unwrap_state_dict,
    update_teacher,
)
from course_lib.dino.multicrop import batch_blur, batch_color, batch_multicrop, batch_resized_crop
from course_lib.dino.official import (
    OFFICIAL_BACKBONES,
    dino_vitb8_official,
    dino_vitb16_official,
    dino_vits8_official,
    dino_vits16_official,
    load_official,
    official_backbone,
    official_url,
    read_torch_file,
)
from course_lib.dino.recipe import (
    DINOConfig,
    DINOModel,
    DINORecipe,
    build_dino_model,
    cls_features,
    held_out_shapes,
    standardize,
)

__all__ = [
    "CollapseConfig",
    "DINOConfig",
    "DINOHead",
    "DINOLoss",
    "DINOLossConfig",
    "DINOModel",
    "DINORecipe",
    "MultiCropWrapper",
    "OFFICIAL_BACKBONES",
    "REGIMES",
    "attention_rows",
    "batch_blur",
    "batch_color",
    "batch_multicrop",
    "batch_resized_crop",
    "build_dino_model",
    "classify_regime",
    "cls_features",
    "collapse_experiment",
    "collapse_metrics",
    "collapse_run",
    "compare_attention",
    "comparison_models",
    "cosine_schedule",
    "cross_entropy_pairs",
    "dino_vitb16_official",
    "dino_vitb8_official",
    "dino_vits16_official",
    "dino_vits8_official",
    "freeze_last_layer",
    "group_by_size",
    "held_out_shapes",
    "load_official",
    "main",
    "make_teacher",
    "official_backbone",
    "official_url",
    "random_crops",
    "read_torch_file",
    "sinkhorn_knopp",
    "standardize",
    "teacher_momentum",
    "tiny_dino",
    "train_step",
    "unwrap_state_dict",
    "update_teacher",
]
