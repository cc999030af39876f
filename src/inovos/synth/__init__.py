"""Look-alike data, deterministic by seed: synthetic scenes (photo-textured shapes over
real clips) in the exact DAVIS-2017, YouTube-VOS 2018, JHMDB and VIP layouts, and
unlabelled training videos (``videos``). Writes with ``formats``; the JHMDB writer
reuses the ``vos`` reader's layout; never imports ``clips``."""

from inovos.synth.backgrounds import BACKGROUND_NAMES
from inovos.synth.davis import write_synth_davis
from inovos.synth.textures import TEXTURE_NAMES
from inovos.synth.ytvos import write_synth_ytvos

__all__ = ["BACKGROUND_NAMES", "TEXTURE_NAMES", "write_synth_davis", "write_synth_ytvos"]
