"""`python -m course_lib.experiments NAME [options]` (see the package docstring)."""

import sys

from course_lib.experiments import EXPERIMENTS, ExperimentError, run


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), "\nexperiments:", ", ".join(EXPERIMENTS))
        return 0
    try:
        run(argv[0], argv[1:])  # an experiment writes its files; its return value is for callers
    except ExperimentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
