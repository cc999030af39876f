"""Look-alike VOS data: synthetic scenes (photo-textured shapes over real clips) in the
exact DAVIS-2017 and YouTube-VOS 2018 layouts, deterministic by seed."""

from inovos.data.synth.backgrounds import BACKGROUND_NAMES
from inovos.data.synth.davis import write_synth_davis
from inovos.data.synth.textures import TEXTURE_NAMES
from inovos.data.synth.ytvos import write_synth_ytvos

__all__ = ["BACKGROUND_NAMES", "TEXTURE_NAMES", "write_synth_davis", "write_synth_ytvos"]
