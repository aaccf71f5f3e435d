"""tools/visualize_ranks.py: best / worst queries by AP, green / red borders, evaluation's gallery rule."""

import numpy as np
import pytest
from PIL import Image
from tools_testlib import COLORS, load_tool, solid_image

from fastreid.evaluation.rank import per_query_ap
from fastreid.utils.visualizer import MATCH_COLOR, MISMATCH_COLOR

tool = load_tool("visualize_ranks")
SIZE = (40, 20)  # drawn image size (H, W) passed as --size
BORDER, GAP = 4, 6
TILE_W = SIZE[1] + 2 * BORDER


@pytest.fixture()
def features_file(tmp_path):
    """4 queries (camera 0) and a gallery with known rankings.

    pids 0..3; gallery = 2 camera-1 images per pid (features e_pid) + one camera-0 image of pid 0
    identical to query 0 (must be hidden, as in evaluation). Query 2 lies nearest pid 3's images:
    ranks pid3, pid3, pid2, pid2 -> AP = (1/3 + 2/4) / 2.
    """
    eye = np.eye(4, dtype=np.float32)
    q = eye.copy()
    q[2] = 0.9 * eye[3] + 0.4 * eye[2]
    g = np.concatenate([np.repeat(eye, 2, axis=0), eye[:1]])
    g[1::2] += 0.01  # a slight offset so the second image of each pair ranks second
    feats = np.concatenate([q, g])
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    pids = np.array([0, 1, 2, 3] + [0, 0, 1, 1, 2, 2, 3, 3] + [0])
    camids = np.array([0] * 4 + [1] * 8 + [0])
    colours = list(COLORS.values())
    paths = [solid_image(tmp_path / "img" / f"{i:02d}.png", colours[p], seed=i) for i, p in enumerate(pids)]
    path = tmp_path / "f.npz"
    np.savez(path, paths=np.array([str(p) for p in paths]), features=feats, size_hw=np.array([64, 32]),
             pids=pids, camids=camids, num_query=np.array(4))
    return path


def _run(features_file, out, order, num_vis=2, topk=20):
    assert tool.main(["--features", str(features_file), "--output", str(out), "--order", order,
                      "--num-vis", str(num_vis), "--topk", str(topk), "--size", *map(str, SIZE)]) == 0


def _tile_colour(strip, i):
    """Colour of the top-left border pixel of gallery tile i (0-based)."""
    return strip.getpixel((TILE_W + 2 * GAP + i * (TILE_W + GAP) + 1, 1))


def test_per_query_ap_matches_hand_computed_values(features_file):
    d = np.load(features_file)
    f, nq = d["features"], int(d["num_query"])
    ap = per_query_ap(1 - f[:nq] @ f[nq:].T, d["pids"][:nq], d["pids"][nq:], d["camids"][:nq], d["camids"][nq:])
    np.testing.assert_allclose(ap, [1.0, 1.0, (1 / 3 + 2 / 4) / 2, 1.0], atol=1e-6)


def test_best_queries_start_with_a_green_match_and_hide_same_camera_images(tmp_path, features_file):
    out = tmp_path / "best"
    _run(features_file, out, "best")
    files = sorted(p.name for p in out.glob("best_*.png"))
    assert files == ["best_000_ap1.000_00.png", "best_001_ap1.000_01.png"]
    strip = Image.open(out / files[0]).convert("RGB")
    # query 0 is ranked against 8 images: its camera-0 twin is hidden although it is the nearest
    assert strip.size == (9 * TILE_W + 8 * GAP + GAP, SIZE[0] + 2 * BORDER + 16)
    assert [_tile_colour(strip, i) for i in range(3)] == [MATCH_COLOR, MATCH_COLOR, MISMATCH_COLOR]
    sheet = Image.open(out / "ranked_lists.png")
    # query 1 keeps all 9 gallery images, so the stacked sheet is as wide as its strip
    assert sheet.size == (10 * TILE_W + 9 * GAP + GAP, 2 * strip.height)


def test_worst_query_shows_its_two_wrong_neighbours_in_red_first(tmp_path, features_file):
    out = tmp_path / "worst"
    _run(features_file, out, "worst", num_vis=1, topk=4)
    (name,) = [p.name for p in out.glob("worst_*.png")]
    assert name == "worst_000_ap0.417_02.png"
    strip = Image.open(out / name).convert("RGB")
    assert strip.width == 5 * TILE_W + 4 * GAP + GAP
    assert [_tile_colour(strip, i) for i in range(4)] == [MISMATCH_COLOR, MISMATCH_COLOR, MATCH_COLOR, MATCH_COLOR]


def test_features_without_identities_are_refused_with_a_hint(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, paths=np.array(["a.png"]), features=np.ones((1, 4), np.float32), size_hw=np.array([64, 32]))
    with pytest.raises(SystemExit, match="no 'pids' array .*--dataset NAME"):
        tool.main(["--features", str(path), "--output", str(tmp_path / "o")])


@pytest.mark.slow
def test_dataset_mode_equals_features_file_mode_on_real_images(tmp_path, osnet_model):
    from tools_testlib import PKU

    if not (PKU / "images").is_dir():
        pytest.skip(f"real test images not found at {PKU}")
    config, weights = osnet_model
    model_args = ["--config-file", str(config), "--weights", str(weights), "--opts",
                  "DATASETS.ROOT", str(PKU.parent), "DATALOADER.NUM_WORKERS", "0"]
    feats = tmp_path / "pku.npz"
    load_tool("extract_features").main(["--dataset", "PKUReIDSubset", "--output", str(feats)] + model_args)
    data = np.load(feats)
    assert int(data["num_query"]) == 272 and data["features"].shape == (544, 512)
    assert set(data["camids"][:272]) != set(data["camids"][272:])  # query and gallery cameras differ

    _run(feats, tmp_path / "a", "worst", num_vis=3, topk=5)
    assert tool.main(["--dataset", "PKUReIDSubset", "--output", str(tmp_path / "b"), "--order", "worst",
                      "--num-vis", "3", "--topk", "5", "--size", *map(str, SIZE)] + model_args) == 0
    names_a = sorted(p.name for p in (tmp_path / "a").glob("worst_*.png"))
    assert len(names_a) == 3 and names_a == sorted(p.name for p in (tmp_path / "b").glob("worst_*.png"))
