"""The report rendered by a real browser (headless Chromium): screenshot and DOM after load.

Needs the `chromium` package (Debian/Ubuntu: `apt-get install -y chromium`); the test is
skipped, saying so, where it is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inovos.cli import main
from inovos.formats.palette import VOID_ID, read_label_png, write_label_png
from inovos.report.charts import SERIES_COLOURS
from inovos.synth import write_synth_davis

WINDOW = (1200, 2000)
NUM_SEQUENCES = 3


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (install it with `apt-get install -y chromium`; "
    "the project's test command does)",
)


def _browser(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    davis = write_synth_davis(
        root / "davis", num_sequences=NUM_SEQUENCES, num_frames=5, size=(60, 100), progress=False
    )
    for run, drop in (("ino", False), ("dino", True)):
        for seq_dir in sorted((davis / "Annotations" / "480p").iterdir()):
            (root / run / seq_dir.name).mkdir(parents=True)
            for t, png in enumerate(sorted(seq_dir.glob("*.png"))):
                labels = read_label_png(png)
                labels[labels == VOID_ID] = 0
                if drop and t > 1:
                    labels[labels == 2] = 0
                write_label_png(root / run / seq_dir.name / png.name, labels)
    log = root / "log.jsonl"
    log.write_text(
        "\n".join(
            json.dumps({"epoch": e, "train": {"loss": 5 - e, "out": 2 / (e + 1)}}) for e in range(6)
        ),
        encoding="utf-8",
    )
    out = root / "report.html"
    argv = ["report", str(root / "ino"), str(root / "dino"), "--davis", str(davis)]
    assert main([*argv, "--out", str(out), "--train-log", str(log), "--processes", "1"]) == 0
    return out


def test_screenshot_is_a_rendered_page(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = _browser(tmp_path / "profile", f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert image.shape == (WINDOW[1], WINDOW[0], 3)
    grey = image.mean(axis=2)
    assert grey.std() > 10  # not blank
    # the title and the scores table sit in the top 450 px: dark text pixels there
    assert (grey[:450] < 128).mean() > 0.003
    # the SVG bars were drawn in the runs' colours
    for colour in SERIES_COLOURS[:2]:
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(image - rgb).max(axis=2) <= 8).sum() > 500


def test_dom_after_load_has_table_images_and_charts(report: Path, tmp_path: Path) -> None:
    done = _browser(tmp_path / "profile", "--dump-dom", report.as_uri())
    dom = done.stdout
    assert "</html>" in dom, done.stderr[-2000:]
    rows = re.findall(r'<tr data-run="([^"]+)"', dom)
    assert rows == ["ino", "dino"]
    assert len(re.findall(r"<td[^>]*data-column=", dom)) == 2 * 7
    images = re.findall(r'<img[^>]*src="(data:image/[a-z]+);base64,', dom)
    assert len(images) == NUM_SEQUENCES
    assert set(images) <= {"data:image/webp", "data:image/gif"}
    assert dom.count('<svg class="chart bar-chart"') == 1
    assert dom.count('<svg class="chart line-chart"') == 2
