"""CLI: python -m course_lib.grading {check,grade,release,gradescope}."""

import argparse
import json
import sys
from pathlib import Path

from course_lib.grading.exercises import EXERCISES


def cmd_check(args):
    from course_lib.grading.check import check

    ok = all([check(name) for name in args.exercises])
    return 0 if ok else 1


def cmd_release(args):
    from course_lib.grading.release import make_release

    stubbed = make_release(args.out)
    print(f"Student release written to {args.out}: {len(stubbed)} solution regions stubbed "
          f"({', '.join(sorted(set(stubbed)))}).")
    return 0


def cmd_grade(args):
    from course_lib.grading.grade import grade, score_table

    if not Path(args.submission).is_dir():
        print(f"Submission folder {args.submission} does not exist: pass the folder with the edited files.")
        return 2
    results = grade(args.submission, names=args.exercises or None, per_test_timeout=args.timeout)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(score_table(results, show_hidden=args.show_hidden))
    print(f"results written to {args.results}")
    return 0


def cmd_gradescope(args):
    from course_lib.grading.gradescope import build_autograder_zip

    path = build_autograder_zip(args.out)
    print(f"Gradescope autograder written to {path}: upload it as the assignment's autograder.")
    return 0


def main(argv=None):
    names = [e.name for e in EXERCISES]
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="run an exercise's public tests and say what is wrong")
    p.add_argument("exercises", nargs="+", choices=names, metavar="EXERCISE")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("release", help="write the student version of the repo")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_release)
    p = sub.add_parser("grade", help="grade a submission and write Gradescope's results.json")
    p.add_argument("--submission", required=True)
    p.add_argument("--results", default="results.json")
    p.add_argument("--exercises", nargs="*", choices=names, metavar="EXERCISE")
    p.add_argument("--timeout", type=int, default=20, help="seconds per test")
    p.add_argument("--show-hidden", action="store_true",
                   help="print the hidden tests' points too (instructor's runs only, never on Gradescope)")
    p.set_defaults(func=cmd_grade)
    p = sub.add_parser("gradescope", help="build the autograder zip for Gradescope")
    p.add_argument("--out", default="autograder.zip")
    p.set_defaults(func=cmd_gradescope)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
