"""course_lib: vision transformers and self-supervised learning, written from scratch.

One concept per module; see the README for the tour. Importing this package has no side effects.
"""

__version__ = "0.1.0"
