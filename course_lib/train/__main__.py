"""`python -m course_lib.train ...`: see course_lib/train/__init__.py."""

import sys

from course_lib.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
