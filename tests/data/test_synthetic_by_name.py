"""The synthetic data sets by name: a generated folder of any size is read as ``SyntheticReID`` /
``SyntheticDusk``; the ``dusk`` rendering domain differs from ``day``, and ``day`` is unchanged."""

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from fastreid.data import build_dataset
from fastreid.data.datasets.bases import DatasetLayoutError
from fastreid.data.datasets.synthetic_reid import SyntheticDusk, SyntheticReID, synthetic_dir
from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid, read_spec, render_image

TINY = dict(num_train_ids=3, num_test_ids=2, num_cameras=2, images_per_camera=2, height=32, width=16,
            num_distractors=1, num_junk=1)
TINY_ARGS = ["--train-ids", "3", "--test-ids", "2", "--cameras", "2", "--images-per-camera", "2",
             "--height", "32", "--width", "16", "--distractors", "1", "--junk", "1"]


def _tool():
    """``tools/generate_synthetic.py`` as a module (tools/ is not a package)."""
    path = Path(__file__).resolve().parents[2] / "tools" / "generate_synthetic.py"
    spec = importlib.util.spec_from_file_location("generate_synthetic", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _jpeg_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.jpg")):
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _pids(items):
    return {p for _, p, _ in items}


def test_tool_output_of_any_size_is_read_by_name(tmp_path, cfg, caplog):
    assert _tool().main(["--output", str(tmp_path / "SyntheticReID"), *TINY_ARGS]) == 0
    with caplog.at_level("INFO"):
        ds = build_dataset(cfg, "SyntheticReID")
    assert ds.dataset_dir == tmp_path / "SyntheticReID" and ds.spec == SyntheticSpec(**TINY)
    assert len(_pids(ds.train)) == 3 and _pids(ds.query) == {4, 5}
    assert "3 train + 2 test identities, 2 cameras" in caplog.text and "seed 0, domain day" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SyntheticReID"]  # nothing else generated


def test_recorded_parameters_are_logged_once(tmp_path, caplog):
    generate_synthetic_reid(str(tmp_path / "SyntheticReID"), SyntheticSpec(**TINY))
    with caplog.at_level("INFO"):
        SyntheticReID(str(tmp_path))
        SyntheticReID(str(tmp_path))
    assert caplog.text.count("3 train + 2 test identities") == 1


def test_arguments_that_agree_with_the_record_read_the_named_folder(tmp_path):
    generate_synthetic_reid(str(tmp_path / "SyntheticReID"), SyntheticSpec(**TINY))
    ds = SyntheticReID(str(tmp_path), num_train_ids=3, seed=0, domain="day", verbose=False)
    assert ds.dataset_dir == tmp_path / "SyntheticReID"


def test_default_arguments_against_another_size_name_both_values(tmp_path):
    generate_synthetic_reid(str(tmp_path / "SyntheticReID"), SyntheticSpec(**TINY))
    with pytest.raises(DatasetLayoutError) as err:
        SyntheticReID(str(tmp_path), num_train_ids=60, num_cameras=4, seed=0, verbose=False)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "SyntheticReID") in msg
    assert "num_train_ids=3 (asked 60)" in msg and "num_cameras=2 (asked 4)" in msg and "seed" not in msg
    assert "omit those arguments" in msg and "--overwrite" in msg


def test_other_arguments_still_get_their_own_folder(tmp_path):
    generate_synthetic_reid(str(tmp_path / "SyntheticReID"), SyntheticSpec(**TINY))
    ds = SyntheticReID(str(tmp_path), **{**TINY, "num_train_ids": 2}, verbose=False)
    assert ds.dataset_dir.name.startswith("SyntheticReID-") and len(_pids(ds.train)) == 2


def test_day_folder_names_of_other_sizes_are_unchanged(tmp_path):
    # the hash the code gave SyntheticSpec(**TINY, seed=5) before domains existed
    assert synthetic_dir(str(tmp_path), SyntheticSpec(**TINY, seed=5)).name == "SyntheticReID-eae89af5"
    dusk = SyntheticSpec(**TINY, seed=5, domain="dusk")
    assert synthetic_dir(str(tmp_path), dusk).name != "SyntheticReID-eae89af5"


def test_absent_named_folder_is_generated_with_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(SyntheticReID, "defaults", SyntheticSpec(**TINY))
    ds = SyntheticReID(str(tmp_path), verbose=False)
    assert ds.dataset_dir == tmp_path / "SyntheticReID"
    assert read_spec(str(ds.dataset_dir)) == SyntheticSpec(**TINY)


@pytest.mark.parametrize("record", [None, "not json", '{"num_train_ids": 3}'])
def test_named_folder_without_a_generator_record_keeps_the_layout_error(tmp_path, record):
    d = generate_synthetic_reid(str(tmp_path / "SyntheticReID"), SyntheticSpec(**TINY))
    if record is None:
        (d / "synthetic.json").unlink()
    else:
        (d / "synthetic.json").write_text(record)
    with pytest.raises(DatasetLayoutError, match="synthetic.json is missing or records other") as err:
        SyntheticReID(str(tmp_path), verbose=False)
    assert "\n" not in str(err.value)


def test_a_record_written_before_domains_counts_as_day(tmp_path):
    d = generate_synthetic_reid(str(tmp_path / "SyntheticReID"), SyntheticSpec(**TINY))
    record = json.loads((d / "synthetic.json").read_text())
    del record["domain"]
    (d / "synthetic.json").write_text(json.dumps(record))
    assert SyntheticReID(str(tmp_path), verbose=False).spec.domain == "day"


def test_default_day_rendering_is_unchanged(tmp_path):
    # pixels of SyntheticSpec(**TINY, seed=5) before rounding to JPEG: identities 1-3, cameras 1-2, images
    # 0-1, saved once the dusk domain was added, when the generated JPEG files still had the digest the
    # pre-dusk code gave them. Compared within one grey level: numpy's vectorised exp / sin may differ in
    # the last bit between CPUs, which can move a pixel across a rounding boundary
    reference = np.load(Path(__file__).parent / "fixtures" / "synthetic_day_seed5.npz")["images"].astype(float)
    spec = SyntheticSpec(**TINY, seed=5)
    got = np.stack([render_image(spec, pid, cam, k) for pid in (1, 2, 3) for cam in (1, 2) for k in (0, 1)])
    diff = np.abs(got - reference)
    assert diff.max() <= 1.0 and diff.mean() < 0.51
    d = generate_synthetic_reid(str(tmp_path / "day"), spec)
    assert json.loads((d / "synthetic.json").read_text())["domain"] == "day"


def test_unknown_domain_is_one_line_listing_the_choices(capsys):
    with pytest.raises(ValueError, match="synthetic domain 'night' unknown; expected one of day, dusk"):
        SyntheticSpec(domain="night").check()
    with pytest.raises(SystemExit):
        _tool().main(["--output", "unused", "--domain", "night"])
    assert "choose from 'day', 'dusk'" in capsys.readouterr().err


def _renders(domain: str) -> np.ndarray:
    """12 identities x 4 cameras of seed 0, 64 x 32, as (ids, cameras, h, w, 3)."""
    spec = SyntheticSpec(height=64, width=32, domain=domain)
    return np.array([[render_image(spec, pid, cam) for cam in (1, 2, 3, 4)] for pid in range(1, 13)])


def test_dusk_is_darker_warmer_and_fades_clothing_colours():
    day, dusk = _renders("day"), _renders("dusk")
    assert dusk.mean() < 0.7 * day.mean()  # darker
    red_minus_blue = (dusk[..., 0] - dusk[..., 2]).mean(axis=(0, 2, 3))
    assert (red_minus_blue > 15).all()  # a warm cast under every camera

    def spread(imgs):  # how far identities' torso colours lie from their camera's mean
        torso = imgs[:, :, 20:45, 11:21].mean(axis=(2, 3))
        return np.linalg.norm(torso - torso.mean(0, keepdims=True), axis=2).mean()

    assert spread(dusk) < 0.7 * spread(day)  # clothing colours are harder to tell apart


def test_same_seed_renders_the_same_people_differently():
    day = SyntheticSpec(**TINY)
    dusk = SyntheticSpec(**TINY, domain="dusk")
    a, b = render_image(day, 1, 1), render_image(dusk, 1, 1)
    assert a.shape == b.shape == (32, 16, 3) and np.abs(a - b).mean() > 20


def test_synthetic_dusk_is_read_by_name(tmp_path, cfg, caplog):
    assert _tool().main(["--output", str(tmp_path / "SyntheticDusk"), "--domain", "dusk", *TINY_ARGS]) == 0
    with caplog.at_level("INFO"):
        ds = build_dataset(cfg, "SyntheticDusk")
    assert ds.dataset_dir == tmp_path / "SyntheticDusk"
    assert ds.spec == SyntheticSpec(**TINY, seed=1, domain="dusk")
    assert "seed 1, domain dusk" in caplog.text and "SyntheticDusk (synthetic, generated data)" in caplog.text
    assert all(p.startswith("synthetic_dusk_") for _, p, _ in ds.train)
    with pytest.raises(DatasetLayoutError, match=r"num_cameras=2 \(asked 4\)"):
        SyntheticDusk(str(tmp_path), num_cameras=4, domain="dusk", verbose=False)


def test_synthetic_dusk_generates_other_people_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setattr(SyntheticDusk, "defaults", SyntheticSpec(**TINY, seed=1, domain="dusk"))
    ds = SyntheticDusk(str(tmp_path), verbose=False)
    assert ds.dataset_dir == tmp_path / "SyntheticDusk" and ds.spec.domain == "dusk"
    day = generate_synthetic_reid(str(tmp_path / "day-seed1"), SyntheticSpec(**TINY, seed=1))
    assert _jpeg_digest(ds.dataset_dir) != _jpeg_digest(day)
