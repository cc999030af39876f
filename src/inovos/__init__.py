"""inovos: In-N-Out generative learning for dense unsupervised video segmentation.

The Python API (imported on first use, so ``import inovos`` stays cheap):

- ``load_model(source)``: a feature backbone from a checkpoint, ``"random:ARCH"`` or
  ``"pixels"``;
- ``VideoSegmenter(model, preset, **knobs)``: one video, ``step(frame, mask=None) -> ids``;
- ``segment_video(model, video, mask)``: a generator of id maps for a video file or
  frame folder;
- ``open_video(video, mask)``, ``make_params(preset, **knobs)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = ("VideoSegmenter", "load_model", "make_params", "open_video", "segment_video")

if TYPE_CHECKING:
    from inovos.api import VideoSegmenter, load_model, make_params, open_video, segment_video


def __getattr__(name: str) -> Any:
    if name in _API:
        from inovos import api

        return getattr(api, name)
    raise AttributeError(f"module 'inovos' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = [
    "VideoSegmenter",
    "__version__",
    "load_model",
    "make_params",
    "open_video",
    "segment_video",
]
