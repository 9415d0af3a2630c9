"""Data: the ShapesWorld generator, augmentation pipelines and access to real data sets.

    from course_lib.data import ShapesWorld, get_dataset
"""

from course_lib.data.shapes import ShapesWorld

__all__ = ["ShapesWorld"]
