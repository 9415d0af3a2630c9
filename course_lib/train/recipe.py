"""Recipes: the registry, the shared training config, and the base class a method subclasses."""

import difflib
import importlib
from dataclasses import dataclass, field, fields

import torch
from torch.utils.data import default_collate

# The recipe modules, one per method, imported lazily (in this order) by `get_recipe`: each
# registers its recipes with `@register_recipe` when imported. Importing a model module registers
# nothing; the recipes live here, in course_lib/train/recipes/.
RECIPE_MODULES = [
    "course_lib.train.recipes.supervised",
    "course_lib.train.recipes.simclr",
    "course_lib.train.recipes.dino",
    "course_lib.train.recipes.mae",
    "course_lib.train.recipes.clip",
    "course_lib.train.recipes.ast",
]

RECIPES = {}


class TrainError(ValueError):
    """Bad input to the engine (unknown recipe or option, incompatible resume): one sentence."""


@dataclass
class TrainConfig:
    """Options every recipe has; a recipe's Config subclasses this and adds its own."""

    seed: int = 0
    epochs: float = 10.0
    steps: int = 0  # > 0: train exactly this many steps instead of `epochs`
    batch_size: int = 128  # global batch: split across DDP processes
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_epochs: float = 0.0
    weight_decay: float = 0.05
    grad_clip: float = 0.0  # 0 = off
    device: str = "auto"  # auto | cuda | mps | cpu
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)
    num_workers: int = 0
    out: str = ""  # run directory; default runs/RECIPE
    save_every: int = 500  # steps between checkpoints (and one at the end)
    eval_every: int = 0  # steps between evaluations; 0 = at the end of every epoch
    log_every: int = 10
    stop_after: int = 0  # > 0: stop (with a checkpoint) after this many steps of this run
    resume: bool = False
    bundle: str = ""  # name: also save the final model as data/checkpoints/NAME
    threads: int = 0  # torch CPU threads per process; 0 = torch's default
    progress: bool = True


# Options that do not change the result: they may differ between a run and its resumption.
RUN_ONLY_OPTIONS = {
    "device", "num_workers", "out", "save_every", "log_every", "stop_after", "resume", "bundle",
    "threads", "progress", "amp",
}


@dataclass
class Context:
    """What a training step may need besides the model and the batch."""

    cfg: TrainConfig
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world_size: int = 1

    @staticmethod
    def unwrap(model):
        """The module inside a DistributedDataParallel wrapper (or the model itself)."""
        return getattr(model, "module", model)


class Recipe:
    """Base class of a recipe; see the package docstring for what to override."""

    name = "recipe"
    Config = TrainConfig

    def make_config(self, **options):
        """A Config from keyword options; an unknown option is one sentence naming the close ones."""
        names = [f.name for f in fields(self.Config)]
        for key in options:
            if key not in names:
                raise TrainError(unknown_option_message(self.name, key.replace("_", "-"), names))
        return self.Config(**options)

    def build_model(self, cfg):
        raise NotImplementedError

    def build_data(self, cfg):
        raise NotImplementedError

    def training_step(self, model, batch, ctx):
        raise NotImplementedError

    def evaluate(self, model, val, ctx):
        return {}

    def card(self, model, cfg):
        return {}

    def export(self, model):
        return model

    def collate(self, items):
        return default_collate(items)

    def after_step(self, model, ctx):
        pass

    def build_optimizer(self, model, cfg):
        """AdamW; biases, norms, [CLS] and positional tables get no weight decay (as in DeiT)."""
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            skip = p.ndim <= 1 or name.endswith(("cls_token", "pos_embed", "mask_token"))
            (no_decay if skip else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def unknown_option_message(recipe, option, names):
    options = [n.replace("_", "-") for n in names]
    close = difflib.get_close_matches(option.lstrip("-"), options, n=1)
    hint = f" (did you mean --{close[0]}?)" if close else ""
    return (
        f"Unknown option --{option.lstrip('-')} for recipe {recipe!r}{hint}: "
        f"run `python -m course_lib.train {recipe} --help` to list its options."
    )


def register_recipe(name):
    """Class decorator: make `cls` available as `python -m course_lib.train NAME`."""

    def register(cls):
        if name in RECIPES and RECIPES[name] is not cls:
            raise TrainError(f"Two recipes are registered as {name!r}: rename one of them.")
        cls.name = name
        RECIPES[name] = cls
        return cls

    return register


def _import_recipe_modules(stop_at=None):
    for module in RECIPE_MODULES:
        if stop_at in RECIPES:
            return
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real missing dependency inside an existing module
                raise


def available_recipes():
    """Every registered recipe name, sorted."""
    _import_recipe_modules()
    return sorted(RECIPES)


def get_recipe(name):
    """An instance of the recipe registered as `name`, or one sentence listing the known ones."""
    _import_recipe_modules(stop_at=name)
    if name not in RECIPES:
        known = sorted(RECIPES)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TrainError(f"Unknown recipe {name!r}{hint}: choose one of {known}.")
    return RECIPES[name]()
