"""Every figure of the kit, shared by the notebooks and the app (matplotlib and plotly).

One module per topic (`course_lib.viz.vit`, `.data`, `.dino`, `.mae`, `.clip`, `.swin`, ...), so
that each figure is written once. Importing this package imports no plotting library.
"""
