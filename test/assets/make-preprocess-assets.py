"""Makes the preprocessing test assets: small PNG/JPEG images and the outputs Hugging Face's
image processors compute for them (PIL resize, center crop, float32 rescale and normalise,
as transformers' image_transforms do), so test/preprocess-*.test.ts can check mmkit's
preprocessing against PIL without Python at test time.

Run with Debian's python3 (python3-pil, python3-numpy):
    /usr/bin/python3 test/assets/make-preprocess-assets.py
"""
import json
import math
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "images")


def pattern(width, height, seed):
    """A deterministic RGB image with edges, gradients and noise, so every filter tap matters."""
    state = seed
    px = np.zeros((height, width, 3), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            state = (state * 1103515245 + 12345) % 2**31
            noise = state % 41 - 20
            r = 128 + 100 * math.sin(x / 3.0) + noise
            g = 255 * x / (width - 1) if (x // 5 + y // 5) % 2 else 30 + noise
            b = 255 * y / (height - 1)
            px[y, x] = [min(255, max(0, int(v))) for v in (r, g, b)]
    return px


def hf_center_crop(img, height, width):
    """transformers.image_transforms.center_crop on an HWC array (zero padding when smaller)."""
    h, w = img.shape[:2]
    top, left = (h - height) // 2, (w - width) // 2
    if top >= 0 and left >= 0 and top + height <= h and left + width <= w:
        return img[top : top + height, left : left + width]
    nh, nw = max(height, h), max(width, w)
    padded = np.zeros((nh, nw) + img.shape[2:], dtype=img.dtype)
    tp, lp = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
    padded[tp : tp + h, lp : lp + w] = img
    top, left = top + tp, left + lp
    return padded[max(0, top) : min(nh, top + height), max(0, left) : min(nw, left + width)]


def hf_prepare(image, cfg):
    """The 8-bit HWC image a ViT/CLIP image processor has after resize and center crop."""
    channels = 1 if len(cfg.get("image_mean", [0, 0, 0])) == 1 else 3
    image = image.convert("L" if channels == 1 else "RGB")
    size = cfg.get("size")
    if size is not None:
        if "shortest_edge" in size:
            w, h = image.size
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(size["shortest_edge"] * long / short)
            target = (size["shortest_edge"], new_long) if w <= h else (new_long, size["shortest_edge"])
        else:
            target = (size["width"], size["height"])
        image = image.resize(target, resample=cfg.get("resample", 2))
    arr = np.array(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if cfg.get("do_center_crop"):
        arr = hf_center_crop(arr, cfg["crop_size"]["height"], cfg["crop_size"]["width"])
    return arr


def hf_normalise(arr, cfg):
    """rescale then normalize, in float32 as numpy does it there; CHW out."""
    arr = (arr.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    mean = np.array(cfg["image_mean"], dtype=np.float32)
    std = np.array(cfg["image_std"], dtype=np.float32)
    arr = (arr - mean) / std
    return arr.transpose(2, 0, 1)


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
HALF = [0.5, 0.5, 0.5]
CASES = {
    "vit-bilinear-down": ("pattern.png", {"size": {"height": 16, "width": 16}, "resample": 2, "image_mean": HALF, "image_std": HALF}),
    "clip-bicubic-crop": ("pattern.png", {"size": {"shortest_edge": 20}, "resample": 3, "do_center_crop": True, "crop_size": {"height": 18, "width": 18}, "image_mean": CLIP_MEAN, "image_std": CLIP_STD}),
    "lanczos-up": ("pattern.png", {"size": {"height": 50, "width": 41}, "resample": 1, "image_mean": HALF, "image_std": HALF}),
    "box-down": ("pattern.png", {"size": {"height": 7, "width": 9}, "resample": 4, "image_mean": HALF, "image_std": HALF}),
    "hamming-down": ("pattern.png", {"size": {"height": 11, "width": 13}, "resample": 5, "image_mean": HALF, "image_std": HALF}),
    "nearest-down": ("pattern.png", {"size": {"height": 10, "width": 15}, "resample": 0, "image_mean": HALF, "image_std": HALF}),
    "crop-pads": ("pattern.png", {"do_center_crop": True, "crop_size": {"height": 30, "width": 40}, "image_mean": HALF, "image_std": HALF}),
    "rgba-to-rgb": ("rgba.png", {"size": {"height": 8, "width": 8}, "resample": 2, "image_mean": HALF, "image_std": HALF}),
    "gray-model": ("pattern.png", {"size": {"height": 12, "width": 12}, "resample": 2, "image_mean": [0.1307], "image_std": [0.3081]}),
    "gray-image-rgb-model": ("gray.png", {"size": {"shortest_edge": 9}, "resample": 3, "image_mean": HALF, "image_std": HALF}),
}

# Cases whose float output is stored too (the 8-bit pixels of every case are).
FLOAT_CASES = {"vit-bilinear-down", "clip-bicubic-crop", "gray-model"}


def main():
    os.makedirs(IMAGES, exist_ok=True)
    px = pattern(37, 23, seed=7)
    Image.fromarray(px, "RGB").save(os.path.join(IMAGES, "pattern.png"))
    rgba = np.concatenate([pattern(12, 10, seed=3), np.full((10, 12, 1), 128, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(os.path.join(IMAGES, "rgba.png"))
    Image.fromarray(pattern(14, 19, seed=5)[:, :, 1], "L").save(os.path.join(IMAGES, "gray.png"))
    Image.fromarray(px, "RGB").save(os.path.join(IMAGES, "pattern.jpg"), quality=95, subsampling=0)

    reference = {"jpeg_decoded_by_pil": np.array(Image.open(os.path.join(IMAGES, "pattern.jpg")).convert("RGB")).flatten().tolist(), "cases": {}}
    for name, (file, cfg) in CASES.items():
        pixels = hf_prepare(Image.open(os.path.join(IMAGES, file)), cfg)
        case = {"image": file, "config": cfg, "pixel_dims": list(pixels.shape), "pixels": pixels.flatten().tolist()}
        if name in FLOAT_CASES:
            out = hf_normalise(pixels, cfg)
            case["dims"], case["data"] = list(out.shape), [float(v) for v in out.flatten()]
        reference["cases"][name] = case
    with open(os.path.join(HERE, "preprocess-reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
