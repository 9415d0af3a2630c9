"""The training engine: `python -m course_lib.train RECIPE [--option value ...]`.

Writing a recipe
----------------
A recipe says *what* to train; the engine does the rest (seeding, batching, optimizer, learning-
rate schedule, progress bar, metrics, atomic checkpoints, --resume, mixed precision, DDP).
A method module registers its recipes with a decorator, in its own file:

    from dataclasses import dataclass
    from course_lib.train import Recipe, TrainConfig, register_recipe

    @dataclass
    class DINOTrainConfig(TrainConfig):   # every field becomes a CLI option: --teacher-temp 0.04
        teacher_temp: float = 0.04
        out_dim: int = 4096

    @register_recipe("dino")
    class DINORecipe(Recipe):
        Config = DINOTrainConfig

        def build_model(self, cfg):        # the nn.Module that is trained (may hold a teacher too)
            ...
        def build_data(self, cfg):         # (train, val): map-style datasets; val may be None
            ...
        def training_step(self, model, batch, ctx):
            ...                            # → loss, or (loss, {"name": float, ...})
        def evaluate(self, model, val, ctx):   # optional → {"knn_top1": 0.81, ...}
            ...
        def card(self, model, cfg):        # what a bundled checkpoint is: factory + kwargs + input
            return {"model": {"factory": "course_lib.vit:vit_tiny", "kwargs": {...}},
                    "input": {"img_size": 64, "mean": [...], "std": [...]}}
        def export(self, model):           # optional: the module whose weights are bundled
            return model.student.backbone  #   (default: the whole model)

A dataset may define `get_batch(indices)` → a ready batch: the engine then skips per-item
fetching and collating (fast for tensors already in memory; it must be deterministic, and any
augmentation then belongs in training_step, seeded by the step as the supervised recipes do).

Optional hooks: `collate(items)` (default: torch's default_collate), `build_optimizer(model,
cfg)` (default: AdamW, no weight decay on biases, norms and tables; a param group may carry
"lr_scale"), `after_step(model, ctx)` (e.g. the EMA teacher update, after optimizer.step()).
`ctx` is a `Context`: cfg, step (0-based, the step being trained), total_steps, epoch,
device, rank, world_size. The module `model` passed to training_step may be DDP-wrapped; use
`ctx.unwrap(model)` to reach attributes. The learning rate follows a linear warmup
(`--warmup-epochs`) and a cosine decay to `--min-lr`.

Registration has no side effect at import of the engine: `get_recipe(name)` imports the method
modules listed in `RECIPE_MODULES` lazily, in order, until the name is registered. Add your
module there if it is not listed.

Determinism: every random draw is a function of the seed: the model is built after
`torch.manual_seed(seed)`, epoch e shuffles with seed (seed, e), sample i of epoch e is
produced after seeding with (seed, e, i) (so augmentations do not depend on the number of
processes or workers), and step s runs after seeding with (seed, s, rank). A resumed run
therefore reaches the same weights as an uninterrupted one.

Command line
------------
    python -m course_lib.train supervised-vit --epochs 40 --device cuda
    python -m course_lib.train supervised-vit --resume                # continue runs/supervised-vit
    python -m course_lib.train supervised-vit --stop-after 2000       # train in pieces
    python -m course_lib.train supervised-resnet --bundle supervised-resnet-shapes
    python -m course_lib.train --all-bundled                          # retrain every bundled model
    torchrun --nproc_per_node 4 -m course_lib.train dino --device cuda # DDP, global --batch-size
    python -m course_lib.train RECIPE --help                          # the recipe's options
"""

from course_lib.train.recipe import (
    RECIPE_MODULES,
    Context,
    Recipe,
    TrainConfig,
    TrainError,
    available_recipes,
    get_recipe,
    register_recipe,
)

__all__ = [
    "RECIPE_MODULES",
    "Context",
    "Recipe",
    "TrainConfig",
    "TrainError",
    "available_recipes",
    "get_recipe",
    "register_recipe",
    "fit",
    "main",
]


def fit(recipe_name, **options):
    """Train `recipe_name` in this process with config `options`; returns the run's summary dict."""
    from course_lib.train.engine import fit as _fit

    recipe = get_recipe(recipe_name)
    return _fit(recipe, recipe.make_config(**options))


def main(argv=None):
    """The command line (see the module docstring)."""
    from course_lib.train.cli import main as _main

    return _main(argv)
