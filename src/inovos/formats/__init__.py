"""File formats and pictures shared by every layer (imports nothing from inovos but
``errors`` and ``atomic``).

``palette``: the DAVIS palette and indexed PNGs of object ids; ``overlay``: masks drawn
over frames in that palette; ``davis``: the DAVIS-2017 folder layout and split files;
``images``: frame listing, sizes, RGB reading and JPEG writing. The readers (``vos``),
the training clips (``clips``), the generators (``synth``), the evaluator
(``evaluation``), the segmentation runner (``segment``) and the report all use these,
so none of them imports another.
"""
