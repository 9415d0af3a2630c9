"""`python -m course_lib.train RECIPE [options]`: options are the fields of the recipe's Config."""

import argparse
import inspect
import re
import shlex
import sys
from dataclasses import MISSING, fields

from course_lib.checkpoints import CheckpointError, card, list_pretrained
from course_lib.data.datasets import DatasetError
from course_lib.train.recipe import TrainError, available_recipes, get_recipe, unknown_option_message

USAGE = """python -m course_lib.train RECIPE [--option value ...]
       python -m course_lib.train RECIPE --help      (the recipe's options)
       python -m course_lib.train --list             (the recipes)
       python -m course_lib.train --all-bundled [--option value ...]   (retrain every bundled model)
       python -m course_lib.train --bundle-checkpoint CHECKPOINT_DIR NAME  (bundle a stopped run's step)"""


class _Parser(argparse.ArgumentParser):
    """argparse that raises one sentence instead of printing usage and exiting."""

    def error(self, message):
        hint = f"run `python -m course_lib.train {self.prog} --help`"
        raise TrainError(f"{message[0].upper()}{message[1:]}: {hint}.")


def field_comments(config_class):
    """{field: its trailing comment} read from the Config classes' source: the options' help."""
    comments = {}
    for cls in reversed(config_class.__mro__[:-1]):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for name, text in re.findall(r"^\s+(\w+): [^#\n]*#\s*(.+)$", source, flags=re.M):
            comments[name] = text.strip().replace("%", "%%")  # argparse formats help with %
    return comments


def build_parser(recipe):
    parser = _Parser(prog=recipe.name, description=(type(recipe).__doc__ or "").strip(),
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    comments = field_comments(recipe.Config)
    for f in fields(recipe.Config):
        default = f.default if f.default is not MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        helptext = f.metadata.get("help", comments.get(f.name, "(default: %(default)s)"))
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=helptext)
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default, help=helptext)
    return parser


def parse(recipe, argv):
    """The recipe's Config from command-line words; unknown options name the closest one."""
    parser = build_parser(recipe)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        names = [f.name for f in fields(recipe.Config)]
        raise TrainError(unknown_option_message(recipe.name, unknown[0].split("=")[0], names))
    return recipe.Config(**vars(args))


def retrain_bundled(extra):
    """Retrain every bundled checkpoint with the command in its card (+ `extra` options)."""
    retrained = []
    for name in list_pretrained("bundled"):
        words = shlex.split(card(name).get("command", ""))
        if words[:3] != ["python", "-m", "course_lib.train"]:
            print(f"skipping {name}: its card has no `python -m course_lib.train` command", file=sys.stderr)
            continue
        print(f"retraining {name}: {' '.join(words)}", file=sys.stderr)
        summary = _run(words[3:] + ["--out", f"runs/bundled/{name}", "--resume"] + extra)
        if "--stop-after" in words and summary is not None:  # an intermediate step was bundled
            from course_lib.train.bundle import bundle_checkpoint
            from course_lib.train.state import latest_checkpoint

            bundle_checkpoint(latest_checkpoint(summary["run_dir"]), name, card(name).get("note"))
        retrained.append(name)
    return retrained


def _run(argv):
    from course_lib.train.engine import fit

    recipe = get_recipe(argv[0])
    if any(a in ("-h", "--help") for a in argv[1:]):
        build_parser(recipe).print_help()
        return None
    return fit(recipe, parse(recipe, argv[1:]))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            print(f"usage: {USAGE}")
            return 0
        if argv[0] == "--list":
            print("\n".join(available_recipes()))
            return 0
        if argv[0] == "--bundle-checkpoint":
            if len(argv) != 3:
                raise TrainError("Usage: python -m course_lib.train --bundle-checkpoint CHECKPOINT_DIR NAME.")
            from course_lib.train.bundle import bundle_checkpoint

            print(f"bundled {bundle_checkpoint(argv[1], argv[2])['name']}")
            return 0
        if argv[0] == "--all-bundled":
            retrain_bundled(argv[1:])
            return 0
        if argv[0].startswith("-"):
            usage = USAGE.splitlines()[0]
            raise TrainError(f"The first word must be a recipe, not {argv[0]}: usage: {usage}.")
        summary = _run(argv)
        if summary is not None:
            state = "finished" if summary["finished"] else "stopped"
            print(f"{state} at step {summary['step']}/{summary['total_steps']} in {summary['run_dir']}: "
                  f"{summary['metrics']}")
        return 0
    except (TrainError, CheckpointError, DatasetError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
