"""Readers of evaluation videos with first-frame labels, all yielding ``VideoSequence``.

``sequence``: the common type (a Protocol) and ``FileSequence``, its file-backed form;
``davis``, ``ytvos``: DAVIS-2017 and YouTube-VOS 2018; ``folder``, ``video_file``: a
user's own frames or video plus a first-frame mask; ``jhmdb``, ``vip``: keypoint and
part-label videos. Builds only on ``formats``; never imports ``clips`` or ``synth``.
"""
