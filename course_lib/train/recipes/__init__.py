"""The training recipes, one module per method (`python -m course_lib.train RECIPE --help`).

| module | recipes |
|---|---|
| `supervised` | `supervised-resnet`, `supervised-vit`, `supervised-resnet-nonlocal`, `supervised-swin` |
| `simclr` | `simclr`, `triplet` |
| `dino` | `dino` |
| `mae` | `mae` |
| `clip` | `clip` (bundled as clip-shapes) |
| `ast` | `ast` (the audio spectrogram transformer) |

Each module registers its recipes with `@register_recipe` when it is imported; the engine imports
them lazily (`course_lib.train.recipe.RECIPE_MODULES`). Importing this package imports none of them.
"""
