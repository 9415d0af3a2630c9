"""Swin Transformer (Liu et al. 2021): attention inside windows, shifted every other block.

    image (B, 3, H, W)
      → patch tokens (B, H/4 · W/4, C)              SwinPatchEmbed: a 4×4 patch becomes one token, + LayerNorm
      → stage 1..4: blocks of W-MSA / SW-MSA        attention only inside M×M windows (M = 7 or 12)
                    then PatchMerging (not after 4)  2×2 neighbours → one token: H/2 × W/2, 2C channels
      → LayerNorm → average over tokens → head      logits (B, num_classes)

Why windows: global self-attention over h·w tokens costs Ω(MSA) = 4hwC² + 2(hw)²C, quadratic in the
number of tokens; attention inside M×M windows costs Ω(W-MSA) = 4hwC² + 2M²hwC, linear (Eq. 1–2;
`course_lib.complexity.omega_msa`, `omega_wmsa`).
Why shifted windows: every second block rolls the feature map by ⌊M/2⌋ so that neighbouring
windows exchange information; a mask (−100 before the softmax) stops tokens that were not
neighbours before the roll from attending to each other.

| module | holds |
|---|---|
| `windows` | `window_partition`, `window_reverse`, `relative_position_index`, the shift mask |
| `layers` | `WindowAttention` (relative position bias), `SwinTransformerBlock`, `PatchMerging` |
| `model` | `SwinConfig`, `SwinTransformer` (`SwinPatchEmbed`, `BasicLayer`), presets `swin_tiny` … |

State-dict keys and shapes are those of Microsoft's official checkpoints (`layers.i.blocks.j.*`,
saved `relative_position_index` and `attn_mask` buffers, downsampling at the END of a stage), so
the published weights load with `strict=True`: `course_lib.official.swin.load_official(name)`,
which also converts timm's layout (`timm_to_official`).
"""

from course_lib.swin.layers import PatchMerging, SwinTransformerBlock, WindowAttention
from course_lib.swin.model import (
    PAPER_WINDOW,
    PRESETS,
    BasicLayer,
    SwinConfig,
    SwinPatchEmbed,
    SwinTransformer,
    check_config,
    init_weights,
    make_swin,
    swin_base,
    swin_large,
    swin_small,
    swin_tiny,
)
from course_lib.swin.windows import (
    relative_position_index,
    shift_regions,
    shifted_window_mask,
    window_partition,
    window_reverse,
)

__all__ = [
    "PAPER_WINDOW",
    "PRESETS",
    "BasicLayer",
    "PatchMerging",
    "SwinConfig",
    "SwinPatchEmbed",
    "SwinTransformer",
    "SwinTransformerBlock",
    "WindowAttention",
    "check_config",
    "init_weights",
    "make_swin",
    "relative_position_index",
    "shift_regions",
    "shifted_window_mask",
    "swin_base",
    "swin_large",
    "swin_small",
    "swin_tiny",
    "window_partition",
    "window_reverse",
]
