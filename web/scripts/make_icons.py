"""Draw the page's app icons (web/icons/icon-<size>.png) with Pillow: a head, half cat, half dog.

    python web/scripts/make_icons.py

Maskable: everything drawn lies within the central 80% circle that launchers may crop to.
"""

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[1] / "icons"
SIZES = (192, 512)
SCALE = 1024  # drawn large, then downsampled (antialiasing)
BACKGROUND = "#1b4f8f"
CAT = "#f2a65a"
DOG = "#f5f0e6"
FEATURES = "#1a1a1a"


def draw() -> Image.Image:
    image = Image.new("RGB", (SCALE, SCALE), BACKGROUND)
    pen = ImageDraw.Draw(image)
    middle = SCALE // 2
    # Ears first: a pointed cat ear on the left, a floppy dog ear on the right.
    pen.polygon([(300, 430), (330, 210), (470, 340)], fill=CAT)
    pen.ellipse((640, 300, 800, 620), fill="#8a5a2b")
    # The head: left half cat, right half dog.
    head = (280, 300, 744, 764)
    pen.pieslice(head, 90, 270, fill=CAT)
    pen.pieslice(head, 270, 90, fill=DOG)
    # Eyes, nose, whiskers (cat side).
    pen.ellipse((390, 470, 440, 530), fill=FEATURES)
    pen.ellipse((584, 470, 634, 530), fill=FEATURES)
    pen.polygon([(middle - 40, 600), (middle + 40, 600), (middle, 645)], fill=FEATURES)
    for dy in (-20, 15):
        pen.line((300, 640 + dy, 440, 630), fill=FEATURES, width=8)
    return image


def main() -> None:
    ICONS.mkdir(exist_ok=True)
    image = draw()
    for size in SIZES:
        image.resize((size, size), Image.LANCZOS).save(ICONS / f"icon-{size}.png", optimize=True)
        print(ICONS / f"icon-{size}.png")


if __name__ == "__main__":
    main()
