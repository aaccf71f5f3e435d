"""SyntheticReID: a generated (synthetic) pedestrian dataset written in the Market-1501 layout.

The images are rendered with numpy and PIL, no real person appears in them. Identities differ in
clothing colours, shirt pattern, accessories (backpack, hat, bag, scarf), hair and skin tone and body
shape; cameras differ in background, lighting (brightness and colour cast), preferred viewpoint
(front / back / side), horizontal shift, scale, blur and sensor noise. Matching across cameras is
therefore a real but learnable task. Everything is drawn from ``numpy.random.default_rng`` seeded
by ``(seed, ...)``, so a seed always gives byte-identical files.

Two rendering domains share the person generator (the same seed gives the same people), so that a
model can be trained on one and adapted to the other:

* ``day`` (the default): bright backgrounds (tiles, bars, noise, plain), mild colour casts.
* ``dusk``: darker walls with other textures (bricks, lit windows, a street lamp's glow), a warm
  (sodium street light) cast of varying strength, faded clothing colours (lower saturation and contrast,
  as a low-light sensor sees them), other preferred viewpoints, tilted (rolled) cameras, people farther
  away (smaller), more blur and more sensor noise.

Output (read by the ``Market1501`` parser)::

    <out_dir>/bounding_box_train/PPPP_cCs1_FFFFFF_00.jpg   training identities, every camera they visit
    <out_dir>/query/...                                     one image per test identity and camera
    <out_dir>/bounding_box_test/...                         the other test images, distractors (pid 0000)
                                                            and junk boxes (pid -1)
    <out_dir>/synthetic.json                                the generation parameters
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fastreid.utils.env import process_alive

__all__ = ["DOMAINS", "DOMAIN_SEEDS", "SyntheticSpec", "generate_synthetic_reid", "read_spec", "render_image",
           "render_person"]

logger = logging.getLogger(__name__)

META_FILE = "synthetic.json"
_VIEWS = ("front", "back", "side")
_PATTERNS = ("solid", "hstripes", "vstripes", "checks", "dots", "split")
_ACCESSORIES = ("none", "backpack", "hat", "bag", "scarf")
DOMAINS = ("day", "dusk")
# default seed of each domain's named data set (SyntheticReID, SyntheticDusk): other seeds, other people
DOMAIN_SEEDS = {"day": 0, "dusk": 1}


@dataclass(frozen=True)
class SyntheticSpec:
    """Size, seed and rendering domain (``day`` or ``dusk``) of a generated dataset (images are
    ``height x width`` pixels, RGB JPEG)."""

    num_train_ids: int = 60
    num_test_ids: int = 40
    num_cameras: int = 4
    images_per_camera: int = 4
    height: int = 128
    width: int = 64
    num_distractors: int = 20
    num_junk: int = 10
    seed: int = 0
    domain: str = "day"

    def check(self) -> None:
        """Raise ``ValueError`` (one line naming the field, its value and the accepted range) when invalid."""
        if self.domain not in DOMAINS:
            raise ValueError(f"synthetic domain {self.domain!r} unknown; "
                             f"expected one of {', '.join(DOMAINS)}")
        if not 2 <= self.num_cameras <= 6:
            raise ValueError(f"synthetic num_cameras {self.num_cameras} out of range; expected 2..6 "
                             "(the Market-1501 layout numbers cameras 1..6)")
        if self.images_per_camera < 2:
            raise ValueError(f"synthetic images_per_camera {self.images_per_camera} too small; expected >= 2 "
                             "(one query plus gallery images per camera)")
        if self.num_train_ids < 1 or self.num_test_ids < 1 or self.num_train_ids + self.num_test_ids > 1500:
            raise ValueError(f"synthetic identities {self.num_train_ids} train + {self.num_test_ids} test; "
                             "expected each >= 1 and 1500 in total at most")
        if self.height < 32 or self.width < 16:
            raise ValueError(f"synthetic image size {self.height}x{self.width} too small; expected >= 32x16")


def _colour(rng: np.random.Generator, sat=(0.35, 1.0), val=(0.25, 1.0)) -> np.ndarray:
    """A random RGB colour (0..255 floats) from HSV ranges."""
    h, s, v = rng.random(), rng.uniform(*sat), rng.uniform(*val)
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb) * 255.0


def _identity(seed: int, pid: int) -> Dict:
    rng = np.random.default_rng((seed, 1, pid))
    return dict(
        shirt=_colour(rng), shirt2=_colour(rng), pants=_colour(rng, sat=(0.1, 0.8), val=(0.15, 0.8)),
        shoes=_colour(rng, sat=(0.0, 0.5), val=(0.05, 0.6)), hair=_colour(rng, sat=(0.2, 0.7), val=(0.05, 0.5)),
        skin=np.array([224, 172, 130]) * rng.uniform(0.45, 1.05), accessory_colour=_colour(rng),
        pattern=_PATTERNS[rng.integers(len(_PATTERNS))], period=int(rng.integers(3, 7)),
        accessory=_ACCESSORIES[rng.integers(len(_ACCESSORIES))], short_sleeves=bool(rng.random() < 0.4),
        shorts=bool(rng.random() < 0.25), logo=bool(rng.random() < 0.4),
        width=rng.uniform(0.8, 1.25), torso=rng.uniform(0.36, 0.46), height=rng.uniform(0.9, 1.05),
    )


def _camera(seed: int, cam: int) -> Dict:
    """Camera ``cam`` of the ``day`` domain: background, gain, preferred view, placement, blur, noise."""
    rng = np.random.default_rng((seed, 2, cam))
    return dict(
        domain="day",
        top=_colour(rng, sat=(0.0, 0.5), val=(0.3, 0.95)), floor=_colour(rng, sat=(0.0, 0.4), val=(0.2, 0.8)),
        texture=("tiles", "noise", "bars", "plain")[rng.integers(4)], tex_amp=rng.uniform(8, 30),
        gain=np.clip(1 + rng.normal(0, 0.12, 3), 0.75, 1.3) * rng.uniform(0.7, 1.2),
        view=_VIEWS[(cam - 1) % 3], shift=rng.uniform(-0.12, 0.12), scale=rng.uniform(0.72, 0.95),
        blur=rng.uniform(0.0, 1.2), noise=rng.uniform(2, 8),
    )


_DUSK_CAST = np.array([1.25, 0.92, 0.62])  # sodium street light: warm, orange


def _dusk_camera(seed: int, cam: int) -> Dict:
    """Camera ``cam`` of the ``dusk`` domain: darker walls, a warm cast of varying strength, faded colours,
    another preferred view per camera, a rolled camera, smaller people, more blur and noise."""
    rng = np.random.default_rng((seed, 6, cam))
    cast = (1 + rng.uniform(0.5, 1.0) * (_DUSK_CAST - 1)) * np.clip(1 + rng.normal(0, 0.04, 3), 0.9, 1.1)
    return dict(
        domain="dusk", top=_colour(rng, sat=(0.2, 0.7), val=(0.15, 0.45)),
        floor=_colour(rng, sat=(0.0, 0.3), val=(0.1, 0.35)), horizon=(0.3, 0.5),
        texture=("bricks", "windows", "lamp")[rng.integers(3)], tex_amp=rng.uniform(15, 35),
        gain=cast * rng.uniform(0.8, 1.05), saturation=rng.uniform(0.5, 0.75), contrast=rng.uniform(0.7, 0.9),
        view=_VIEWS[cam % 3], roll=rng.uniform(4, 9) * (1 if rng.random() < 0.5 else -1),
        shift=rng.uniform(-0.18, 0.18), scale=rng.uniform(0.6, 0.8), blur=rng.uniform(0.6, 1.6),
        noise=rng.uniform(7, 13),
    )


def _make_camera(spec: SyntheticSpec, cam: int) -> Dict:
    """Camera ``cam`` of ``spec``'s rendering domain."""
    return (_dusk_camera if spec.domain == "dusk" else _camera)(spec.seed, cam)


def _background(cam: Dict, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """The scene behind the person: a wall above a floor, with the camera's texture."""
    y = np.linspace(0, 1, h)[:, None, None]
    horizon = rng.uniform(*cam.get("horizon", (0.45, 0.7)))
    img = np.where(y < horizon, cam["top"] * (0.85 + 0.3 * y), cam["floor"] * (0.8 + 0.3 * y))
    img = np.broadcast_to(img, (h, w, 3)).copy()
    yy, xx = np.mgrid[0:h, 0:w]
    ox, oy = rng.integers(0, 16, 2)
    if cam["texture"] == "tiles":
        img += cam["tex_amp"] * ((((xx + ox) // 8 + (yy + oy) // 8) % 2) - 0.5)[..., None]
    elif cam["texture"] == "bars":
        img += cam["tex_amp"] * ((((xx + ox) // 5) % 3 == 0) - 0.3)[..., None]
    elif cam["texture"] == "noise":
        img += rng.normal(0, cam["tex_amp"] / 2, (h, w, 1))
    elif cam["texture"] in _DUSK_TEXTURES:
        wall = (yy < horizon * h)[..., None]
        img += wall * _DUSK_TEXTURES[cam["texture"]](cam["tex_amp"], yy + oy, xx + ox, rng)
    return img


def _bricks(amp: float, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark mortar lines of a brick wall (rows of 5 px, bricks 10 px, every other row offset)."""
    mortar = (yy % 5 == 0) | ((xx + 5 * ((yy // 5) % 2)) % 10 == 0)
    return -amp * mortar[..., None]


def _windows(amp: float, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lit (warm) and unlit windows in a grid of 12 x 9 px cells."""
    lit = rng.random((yy.max() // 12 + 1, xx.max() // 9 + 1)) < 0.45
    inside = (yy % 12 >= 3) & (xx % 9 >= 2) & (xx % 9 < 7)
    level = np.where(lit[yy // 12, xx // 9] & inside, 3.0 * amp, -0.5 * amp * inside)
    return level[..., None] * np.array([1.0, 0.8, 0.45])


def _lamp(amp: float, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The warm glow of a street lamp somewhere along the top of the wall."""
    h, w = yy.shape
    y0, x0 = yy.min() + rng.uniform(0.05, 0.2) * h, xx.min() + rng.uniform(0, 1) * w
    r2 = ((yy - y0) ** 2 + (xx - x0) ** 2) / (0.3 * h) ** 2
    return (4.0 * amp * np.exp(-r2))[..., None] * np.array([1.0, 0.85, 0.55])


_DUSK_TEXTURES = {"bricks": _bricks, "windows": _windows, "lamp": _lamp}


def _fade(img: np.ndarray, saturation: float, contrast: float) -> np.ndarray:
    """Lower saturation (towards grey) and contrast (towards the mean): a low-light sensor's colours."""
    grey = img.mean(axis=2, keepdims=True)
    img = grey + saturation * (img - grey)
    mean = img.mean()
    return mean + contrast * (img - mean)


def _expose(img: np.ndarray, cam: Dict, factor: float = 1.0) -> np.ndarray:
    """The camera's light and sensor response: (dusk only) faded colours, then gain (brightness, cast)."""
    if cam["domain"] == "dusk":
        img = _fade(img, cam["saturation"], cam["contrast"])
    return img * cam["gain"] * factor


def _pattern_fill(ident: Dict, h: int, w: int, x0: int, y0: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx, p = yy - y0, xx - x0, ident["period"]
    kind = ident["pattern"]
    if kind == "hstripes":
        m = (yy // p) % 2 == 0
    elif kind == "vstripes":
        m = (xx // p) % 2 == 0
    elif kind == "checks":
        m = (yy // p + xx // p) % 2 == 0
    elif kind == "dots":
        m = ((yy % (2 * p)) < p // 2 + 1) & ((xx % (2 * p)) < p // 2 + 1)
    elif kind == "split":
        m = yy < (p * 3)
    else:
        m = np.ones((h, w), bool)
    return np.where(m[..., None], ident["shirt"], ident["shirt2"])


def render_person(ident: Dict, cam: Dict, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Render one image ``(h, w, 3)`` float 0..255 of identity ``ident`` seen by camera ``cam``."""
    view = cam["view"] if rng.random() < 0.7 else _VIEWS[rng.integers(3)]
    bg = _background(cam, h, w, rng)
    fig_h = h * cam["scale"] * ident["height"] * rng.uniform(0.93, 1.05)
    cx = w / 2 + w * cam["shift"] + rng.normal(0, w * 0.04)
    feet = h - rng.uniform(0.01, 0.06) * h
    top = feet - fig_h
    bw = w * 0.34 * ident["width"] * (0.7 if view == "side" else 1.0)
    head_r = fig_h * 0.065
    neck = top + 2 * head_r
    hip = neck + fig_h * ident["torso"]
    phase = rng.uniform(-1, 1) * fig_h * 0.05

    layer = Image.new("RGB", (w, h))
    mask = Image.new("L", (w, h))
    d, md = ImageDraw.Draw(layer), ImageDraw.Draw(mask)

    def shape(kind: str, box, colour) -> None:
        c = tuple(int(v) for v in np.clip(colour, 0, 255))
        getattr(d, kind)(box, fill=c)
        getattr(md, kind)(box, fill=255)

    # legs (walking phase shifts the feet), shoes
    leg_w = bw * 0.42
    for sgn in (-1, 1):
        lx = cx + sgn * bw * 0.22
        fx = lx + sgn * phase
        shape("polygon", [(lx - leg_w / 2, hip), (lx + leg_w / 2, hip), (fx + leg_w / 2, feet - 3),
                          (fx - leg_w / 2, feet - 3)], ident["pants"])
        if ident["shorts"]:
            knee = hip + (feet - hip) * 0.45
            shape("polygon", [(lx - leg_w / 2.4, knee), (lx + leg_w / 2.4, knee), (fx + leg_w / 2.4, feet - 3),
                              (fx - leg_w / 2.4, feet - 3)], ident["skin"])
        shape("rectangle", [fx - leg_w / 2 - 1, feet - 4, fx + leg_w / 2 + (2 if view == "side" else 1), feet],
              ident["shoes"])
    # arms
    arm_w = bw * 0.2
    for sgn in ((-1, 1) if view != "side" else (1,)):
        ax = cx + sgn * (bw / 2 + arm_w / 2) if view != "side" else cx
        swing = -phase if sgn > 0 else phase
        sleeve_end = neck + (hip - neck) * (0.45 if ident["short_sleeves"] else 1.05)
        shape("polygon", [(ax - arm_w / 2, neck + 2), (ax + arm_w / 2, neck + 2),
                          (ax + arm_w / 2 + swing, hip + 4), (ax - arm_w / 2 + swing, hip + 4)], ident["skin"])
        shape("polygon", [(ax - arm_w / 2, neck + 2), (ax + arm_w / 2, neck + 2),
                          (ax + arm_w / 2 + swing * 0.6, sleeve_end), (ax - arm_w / 2 + swing * 0.6, sleeve_end)],
              ident["shirt"])
    # torso with its pattern
    torso = [(cx - bw / 2, neck + 1), (cx + bw / 2, neck + 1), (cx + bw / 2 * 0.92, hip), (cx - bw / 2 * 0.92, hip)]
    tmask = Image.new("L", (w, h))
    ImageDraw.Draw(tmask).polygon(torso, fill=255)
    fill = _pattern_fill(ident, h, w, int(cx - bw / 2), int(neck))
    layer = Image.composite(Image.fromarray(np.clip(fill, 0, 255).astype(np.uint8)), layer, tmask)
    mask = Image.composite(tmask, mask, tmask)
    d, md = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    if ident["logo"] and view == "front":
        s = bw * 0.22
        shape("rectangle", [cx - s, neck + (hip - neck) * 0.3, cx + s, neck + (hip - neck) * 0.3 + 2 * s],
              255 - ident["shirt"])
    # accessories, drawn according to the viewpoint
    acc, ac = ident["accessory"], ident["accessory_colour"]
    if acc == "backpack":
        if view == "back":
            shape("rectangle", [cx - bw * 0.4, neck + 3, cx + bw * 0.4, hip - 2], ac)
        elif view == "side":
            shape("rectangle", [cx - bw * 0.95, neck + 3, cx - bw * 0.45, hip - 2], ac)
        else:
            for sgn in (-1, 1):
                shape("rectangle", [cx + sgn * bw * 0.3 - 1, neck + 1, cx + sgn * bw * 0.3 + 1, hip - 4], ac)
    elif acc == "bag":
        bx = cx + bw * (0.55 if view != "back" else -0.85)
        shape("rectangle", [bx, hip - 6, bx + bw * 0.35, hip + (feet - hip) * 0.2], ac)
    elif acc == "scarf":
        shape("rectangle", [cx - bw * 0.35, neck - 1, cx + bw * 0.35, neck + (hip - neck) * 0.15], ac)
    # head, hair (back view shows mostly hair), hat
    shape("rectangle", [cx - head_r * 0.35, neck - head_r * 0.4, cx + head_r * 0.35, neck + 2], ident["skin"])
    shape("ellipse", [cx - head_r, top, cx + head_r, top + 2 * head_r], ident["skin"])
    hair_box = [cx - head_r, top - 1, cx + head_r, top + (1.8 if view == "back" else 0.9) * head_r]
    shape("ellipse", hair_box, ident["hair"])
    if acc == "hat":
        shape("rectangle", [cx - head_r * 1.15, top - head_r * 0.3, cx + head_r * 1.15, top + head_r * 0.45], ac)

    if cam["domain"] == "dusk":  # a rolled camera: the person leans by the camera's angle (+- jitter)
        angle, centre = cam["roll"] + rng.normal(0, 1.5), (cx, (top + feet) / 2)
        layer = layer.rotate(angle, resample=Image.BILINEAR, center=centre)
        mask = mask.rotate(angle, resample=Image.BILINEAR, center=centre)
    person = np.asarray(layer, dtype=np.float64)
    alpha = np.asarray(mask, dtype=np.float64)[..., None] / 255.0
    img = bg * (1 - alpha) + person * alpha
    img = _expose(img, cam, rng.uniform(0.9, 1.1))
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    radius = cam["blur"] + rng.uniform(0, 0.3)
    if radius > 0.05:
        out = out.filter(ImageFilter.GaussianBlur(radius))
    img = np.asarray(out, dtype=np.float64) + rng.normal(0, cam["noise"], (h, w, 3))
    return np.clip(img, 0, 255)


def render_image(spec: SyntheticSpec, pid: int, cam: int, k: int = 0) -> np.ndarray:
    """Image ``k`` of identity ``pid`` under camera ``cam`` (float ``(h, w, 3)``, 0..255) exactly as
    ``generate_synthetic_reid`` renders it for ``spec``, also for cameras the identity does not visit
    there (for contact sheets and tests)."""
    spec.check()
    rng = np.random.default_rng((spec.seed, 3, pid, cam, k))
    return render_person(_identity(spec.seed, pid), _make_camera(spec, cam), spec.height, spec.width, rng)


def read_spec(folder: str) -> SyntheticSpec:
    """The ``SyntheticSpec`` recorded in ``<folder>/synthetic.json`` by ``generate_synthetic_reid``.

    A record written before domains existed (no ``domain`` key) is a ``day`` set. Raises ``ValueError``
    (one line) when the file is missing, unreadable or not a generator's record.
    """
    path = Path(folder) / META_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} missing or unreadable ({type(e).__name__})") from None
    names = [f.name for f in fields(SyntheticSpec)]
    keys = set(record) if isinstance(record, dict) else set()
    if not keys or set(names) - {"domain"} - keys or keys - set(names) - {"note"}:
        raise ValueError(f"{path} is not a generator record; expected the keys {', '.join(names)} and note")
    record = {k: v for k, v in record.items() if k != "note"}
    if not all(isinstance(v, int) and not isinstance(v, bool) for k, v in record.items() if k != "domain"):
        raise ValueError(f"{path} is not a generator record; expected integer sizes and seed")
    spec = SyntheticSpec(**record)
    try:
        spec.check()
    except ValueError as e:
        raise ValueError(f"{path} is not a generator record: {e}") from None
    return spec


def _save(img: np.ndarray, path: Path) -> None:
    Image.fromarray(img.astype(np.uint8)).save(path, quality=92)


def _plan(spec: SyntheticSpec) -> Tuple[Dict[int, Tuple[int, ...]], range, range]:
    """Which cameras each identity visits (at least 2)."""
    rng = np.random.default_rng((spec.seed, 0))
    train_ids = range(1, spec.num_train_ids + 1)
    test_ids = range(spec.num_train_ids + 1, spec.num_train_ids + spec.num_test_ids + 1)
    cams = {}
    for pid in list(train_ids) + list(test_ids):
        k = int(rng.integers(2, spec.num_cameras + 1))
        cams[pid] = tuple(sorted(int(c) + 1 for c in rng.choice(spec.num_cameras, k, replace=False)))
    return cams, train_ids, test_ids


def _remove_stale_temp_folders(out: Path) -> None:
    """Delete the ``<out>.tmp-<pid>`` folders of generations whose process no longer runs (killed before
    their rename): nothing else ever removes them."""
    if not out.parent.is_dir():
        return
    for tmp in out.parent.iterdir():
        prefix, _, pid = tmp.name.rpartition(".tmp-")
        if prefix == out.name and pid.isdigit() and tmp.is_dir() and not process_alive(int(pid)):
            logger.warning("removing %s, left by a generation that was stopped (process %s no longer runs)",
                           tmp, pid)
            shutil.rmtree(tmp, ignore_errors=True)


def generate_synthetic_reid(out_dir: str, spec: SyntheticSpec = SyntheticSpec(), overwrite: bool = False) -> Path:
    """Write a synthetic dataset in the Market-1501 layout to ``out_dir`` and return its path.

    Deterministic for ``spec``. The files are written to a temporary sibling folder that is renamed at
    the end, so a reader never sees a half-written dataset; the temporary folders of generations that
    were killed are removed first. An existing ``out_dir`` is kept unless ``overwrite`` is set.
    """
    spec.check()
    out = Path(out_dir)
    _remove_stale_temp_folders(out)
    if out.exists() and not overwrite:
        return out
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("bounding_box_train", "query", "bounding_box_test"):
        (tmp / sub).mkdir(parents=True)
    h, w = spec.height, spec.width
    cams_of, train_ids, test_ids = _plan(spec)
    cams = {c: _make_camera(spec, c) for c in range(1, spec.num_cameras + 1)}
    frame = 0
    for pid in list(train_ids) + list(test_ids):
        ident = _identity(spec.seed, pid)
        for c in cams_of[pid]:
            for k in range(spec.images_per_camera):
                frame += 1
                img = render_person(ident, cams[c], h, w, np.random.default_rng((spec.seed, 3, pid, c, k)))
                sub = "bounding_box_train" if pid in train_ids else ("query" if k == 0 else "bounding_box_test")
                _save(img, tmp / sub / f"{pid:04d}_c{c}s1_{frame:06d}_00.jpg")
    for n in range(spec.num_distractors):  # people who are never queried (pid 0 in the gallery)
        rng = np.random.default_rng((spec.seed, 4, n))
        c = int(rng.integers(1, spec.num_cameras + 1))
        img = render_person(_identity(spec.seed, 100000 + n), cams[c], h, w, rng)
        _save(img, tmp / "bounding_box_test" / f"0000_c{c}s1_{frame + n + 1:06d}_00.jpg")
    for n in range(spec.num_junk):  # junk boxes: background only (pid -1, dropped by the parser)
        rng = np.random.default_rng((spec.seed, 5, n))
        c = int(rng.integers(1, spec.num_cameras + 1))
        img = np.clip(_expose(_background(cams[c], h, w, rng), cams[c]), 0, 255)
        _save(img, tmp / "bounding_box_test" / f"-1_c{c}s1_{frame + n + 1:06d}_00.jpg")
    meta = dict(asdict(spec), note="synthetic (generated) pedestrians, not real people; Market-1501 layout")
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
    if out.exists():
        shutil.rmtree(out)
    try:
        os.replace(tmp, out)
    except OSError:  # another process finished first; its identical copy wins
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("generated synthetic ReID dataset in %s (%d train ids, %d test ids, %d cameras, %dx%d, %s)",
                out, spec.num_train_ids, spec.num_test_ids, spec.num_cameras, h, w, spec.domain)
    return out
