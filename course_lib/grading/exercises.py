"""The exercise registry: each homework exercise, where its solution lives, and its points.

An exercise is a region of course_lib between `# BEGIN SOLUTION` and `# END SOLUTION` (nbgrader's
markers) inside one function. The student release replaces the region with
`raise NotImplementedError("Exercise '<name>': <hint>")`. Graded tests live in
tests/homework/test_<name>.py (public) and tests/homework/hidden/ (instructor only); each test is
tagged `@pytest.mark.exercise("<name>", points=...)`.
"""

from dataclasses import dataclass

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
STUB_PREFIX = "Exercise '"  # every stub's message starts with this (the test hooks look for it)


@dataclass(frozen=True)
class Exercise:
    name: str
    file: str  # path inside the repo
    function: str  # the function(s) holding the solution regions, comma-separated
    hint: str
    topic: str

    @property
    def public_tests(self):
        return f"tests/homework/test_{self.name}.py"

    @property
    def hidden_tests(self):
        return f"tests/homework/hidden/test_{self.name}_hidden.py"


EXERCISES = [
    Exercise("patchify", "course_lib/patches.py", "patchify",
             "reshape (B, C, H, W) to (B, C, h, p, w, p), permute to (B, h, w, p, p, C), flatten to (B, L, "
             "p*p*C).",
             "ViT"),
    Exercise("attention", "course_lib/attention.py", "explicit_attention",
             "scores = q @ kᵀ (swap the last two dims of k) times scale; softmax over the keys (last dim); "
             "then the weighted sum of v. Return (out, attn).",
             "ViT"),
    Exercise("sincos_2d", "course_lib/positions.py", "sincos_2d",
             "first half: sincos_1d of each patch's column index; second half: of its row index; row-major "
             "order.",
             "ViT"),
    Exercise("attention_matrix_bytes", "course_lib/complexity.py", "attention_matrix_bytes",
             "one N × N matrix per head, per layer, per image, each entry bytes_per_element bytes.",
             "ViT"),
    Exercise("nt_xent_loss", "course_lib/losses.py", "nt_xent_loss",
             "normalize the 2N rows, logits = z zᵀ / τ, mask the diagonal with -inf, cross-entropy to the "
             "other view.",
             "SimCLR"),
    Exercise("clip_loss", "course_lib/losses.py", "clip_loss",
             "labels = arange(n); average the cross-entropy over rows (image→text) and over columns "
             "(text→image).",
             "CLIP"),
    Exercise("mae_loss", "course_lib/losses.py", "mae_loss",
             "per-patch mean squared error, averaged over the removed patches only (mask == 1).",
             "MAE"),
    Exercise("dino_loss", "course_lib/losses.py", "dino_loss",
             "teacher: softmax((t − center)/τ_t); student: log_softmax(s/τ_s); average H(P_t, P_s) over "
             "pairs of different views.",
             "DINO"),
    Exercise("window_partition", "course_lib/swin/windows.py", "window_partition",
             "view (B, H, W, C) as (B, H/M, M, W/M, M, C), bring the two window indices first, flatten to "
             "(B·nW, M, M, C).",
             "Swin"),
    Exercise("shifted_window_mask", "course_lib/swin/windows.py", "shifted_window_mask",
             "label the 3×3 regions (shift_regions), cut the label map into windows, then −100 where two "
             "tokens' labels differ.",
             "Swin"),
    Exercise("zero_shot_classify", "course_lib/evaluate/clip.py", "class_embeddings,zero_shot_classify",
             "class_embeddings: normalize each prompt's embedding, average over templates, renormalize; "
             "zero_shot_classify: normalized image features, logits = temperature_scale() · cosine, "
             "softmax over classes.",
             "CLIP"),
    Exercise("random_masking", "course_lib/mae.py", "keep_by_noise,random_masking",
             "argsort the per-sample noise (small = kept), gather the first len_keep tokens, "
             "build the 0/1 mask in shuffled order and un-shuffle it with "
             "ids_restore = argsort(ids_shuffle).",
             "MAE"),
    Exercise("ema_teacher", "course_lib/dino/model.py", "update_teacher",
             "for each (student, teacher) parameter pair: θ_t ← m·θ_t + (1 − m)·θ_s, in place, without "
             "gradients.",
             "DINO"),
    Exercise("attention_jaccard", "course_lib/evaluate/attention_maps.py", "threshold_attention",
             "normalize the attention to sum 1, sort it descending, keep patches until the kept mass "
             "reaches `mass` (60% of the mass, not 60% of the maximum).",
             "DINO"),
]

EXERCISES_BY_NAME = {e.name: e for e in EXERCISES}


def get_exercise(name):
    if name not in EXERCISES_BY_NAME:
        raise KeyError(f"Unknown exercise {name!r}: choose one of {', '.join(EXERCISES_BY_NAME)}.")
    return EXERCISES_BY_NAME[name]


def stub_message(exercise):
    return f"{STUB_PREFIX}{exercise.name}' is not implemented yet. Hint: {exercise.hint}"
