"""Evaluation: frozen-feature probes, attention as segmentation, reconstruction, zero-shot.

| module | holds |
|---|---|
| `probes` | `encoder_of`, `extract_features`, k-NN (`knn_accuracy`), the linear probe |
| | `embed`, `probe_metrics`, `nearest_neighbours`: the same on images in memory (`ProbeData`) |
| `attention_maps` | DINO's Jaccard rule (`attention_jaccard`), [CLS] maps, `attention_rollout` |
| `features` | patch features of a ViT or MAE, and their first principal components as RGB |
| `reconstruction` | MAE's `reconstruct` (visible patches pasted back), masked errors on fixed masks |
| `clip` | CLIP's `zero_shot_classify` (prompt ensembles), `ranking_sentence`, `retrieval_recall`, text maps |
| `clip_shapes` | the clip-shapes metrics on ShapesWorld, the relation probe, the pointing game |

Everything here takes models and tensors and returns numbers: it loads no checkpoint and draws
no figure, so a training recipe may call it to report its metrics.
"""

from course_lib.evaluate.attention_maps import (
    attention_jaccard,
    attention_jaccard_report,
    attention_rollout,
    centred_blob,
    cls_attention_maps,
    foreground_mass_ratio,
    jaccard,
    threshold_attention,
    upsample_mask,
)
from course_lib.evaluate.probes import (
    ProbeData,
    embed,
    encoder_of,
    evaluate_encoder,
    extract_features,
    knn_accuracy,
    knn_predict,
    linear_probe,
    linear_probe_accuracy,
    nearest_neighbours,
    patch_mean_of,
    probe_metrics,
)

__all__ = [
    "ProbeData",
    "attention_jaccard",
    "attention_jaccard_report",
    "attention_rollout",
    "centred_blob",
    "cls_attention_maps",
    "embed",
    "encoder_of",
    "evaluate_encoder",
    "extract_features",
    "foreground_mass_ratio",
    "jaccard",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "linear_probe_accuracy",
    "nearest_neighbours",
    "patch_mean_of",
    "probe_metrics",
    "threshold_attention",
    "upsample_mask",
]
