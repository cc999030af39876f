"""The training-clip pipeline: unlabelled videos in, batches of augmented views out.

``video_sources``: where videos come from; ``video_probe``, ``video_index``: per-video
timestamps cached on disk; ``sampling``: resampling to the target rate and each epoch's
clips; ``decode``: a clip's frames; ``dataset``: the clip dataset and collation;
``views``, ``resized_crop``, ``photometric``: multi-crop views; ``patch_masks``: masks
for the in-generative losses. Builds only on ``formats``; never imports ``vos`` or ``synth``.
"""
