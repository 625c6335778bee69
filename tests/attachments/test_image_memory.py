"""Issue 14: image inspection is bounded by memory as well as pixels.

Four concurrent 6000x6000 PNGs (105 KB each, under the pixel cap) once took the server from 542 MB to 1.4 GB.
Each check runs `inspect_image` in a fresh interpreter and reads how much its peak resident size grew."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from connectnow.files.inspect import MAX_DECODE_BYTES, inspect_image

PROBE = """
import json, resource, sys
from connectnow.files.inspect import inspect_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
facts = inspect_image(data, sys.argv[2], max_pixels=40_000_000, thumbnail_px=320)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growthKiB": after - before, "size": [facts.width, facts.height],
                  "thumbnail": facts.thumbnail is not None}))
"""


@pytest.fixture(scope="module")
def big_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big")
    image = Image.new("RGB", (6000, 6000), (200, 30, 90))
    paths = {"image/png": folder / "big.png", "image/jpeg": folder / "big.jpg"}
    image.save(paths["image/png"], format="PNG")
    image.save(paths["image/jpeg"], format="JPEG", quality=70)
    return paths


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg"])
def test_a_36_megapixel_image_is_inspected_in_little_memory(big_images: dict[str, Path], mime: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(big_images[mime]), mime],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(probe.stdout)
    assert result["size"] == [6000, 6000]
    # A full decode is 6000 x 6000 x 4 bytes = 137 MiB (twice that with the old full-size rotation copy).
    assert result["growthKiB"] < 40 * 1024, result
    # JPEG decodes at 1/8 scale, so it still gets a thumbnail; a PNG that large cannot be decoded partially.
    assert result["thumbnail"] is (mime == "image/jpeg")
    assert MAX_DECODE_BYTES < 6000 * 6000 * 4


def test_orientation_is_applied_to_the_thumbnail_and_reported_sizes() -> None:
    image = Image.new("RGB", (400, 200), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    facts = inspect_image(out.getvalue(), "image/jpeg", max_pixels=40_000_000, thumbnail_px=100)
    assert (facts.width, facts.height) == (200, 400)
    assert facts.thumbnail is not None
    with Image.open(io.BytesIO(facts.thumbnail)) as thumb:
        assert thumb.size == (50, 100)
