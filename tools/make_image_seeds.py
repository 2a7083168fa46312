"""Writes fuzz/seeds/image/: small images in every format and variant the image readers
handle (PNG gray/palette/RGBA, baseline/progressive/CMYK/EXIF JPEG, still and animated
interlaced GIF, lossy/lossless/alpha WebP, 1/8/24/32-bit BMP), made with Pillow.
Run from the repo root: python3 tools/make_image_seeds.py"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join("fuzz", "seeds", "image")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (9, 13, 4), dtype=np.uint8)
    rgba, rgb = Image.fromarray(a, "RGBA"), Image.fromarray(a[:, :, :3])
    rgba.save(os.path.join(OUT, "rgba.png"))
    rgb.convert("L").save(os.path.join(OUT, "gray.png"))
    rgb.convert("P").save(os.path.join(OUT, "pal.png"), transparency=3)
    rgb.save(os.path.join(OUT, "small.jpg"), quality=70)
    rgb.save(os.path.join(OUT, "prog.jpg"), quality=70, progressive=True)
    rgb.convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"))
    ex = Image.Exif()
    ex[0x0112] = 6
    rgb.save(os.path.join(OUT, "exif6.jpg"), exif=ex)
    rgba.save(os.path.join(OUT, "alpha.webp"), quality=60)
    rgb.save(os.path.join(OUT, "lossy.webp"), quality=60)
    rgba.save(os.path.join(OUT, "lossless.webp"), lossless=True)
    rgb.convert("P").save(os.path.join(OUT, "interlaced.gif"), interlace=True)
    frames = [Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    frames[0].save(os.path.join(OUT, "anim.gif"), save_all=True, append_images=frames[1:], transparency=0)
    rgb.convert("1").save(os.path.join(OUT, "mono.bmp"))
    rgb.convert("L").convert("P").save(os.path.join(OUT, "pal8.bmp"))
    rgb.save(os.path.join(OUT, "rgb24.bmp"))
    rgba.save(os.path.join(OUT, "rgba.bmp"))


if __name__ == "__main__":
    main()
