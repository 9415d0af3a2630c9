"""Official pretrained weights, one module per family: URLs and checksums, key conversion, loading.

| module | names (`course_lib.checkpoints.load_pretrained(name)`) |
|---|---|
| `dino` | `dino_vits16`, `dino_vits8`, `dino_vitb16`, `dino_vitb8` |
| `mae` | `mae_vit_base`, `mae_vit_large_visualize` |
| `clip` | `clip_vit_b32`, `clip_vit_b16` |
| `swin` | `swin_tiny`, `swin_small`, `swin_base`, `swin_base_384`, `swin_large`, `swin_large_384` |

Every module has one entry point, `load_official(name)`: it downloads the published file into the
user cache (`course_lib.checkpoints.download`, checked by its checksum where one is published),
converts the keys where the layouts differ, loads them strictly and returns the model in eval mode.
"""
