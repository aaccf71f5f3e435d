"""fastreid.utils.visualizer: rank-list strips, HTML pages, activation maps and overlays."""

import numpy as np
import pytest
import torch

from fastreid.utils.visualizer import (
    MATCH_COLOR,
    MISMATCH_COLOR,
    QUERY_COLOR,
    UNKNOWN_COLOR,
    activation_maps,
    draw_rank_list,
    overlay_heatmap,
    rank_list_html,
)


def _img(value):
    return np.full((40, 20, 3), value, dtype=np.uint8)


def test_rank_list_has_documented_size_and_border_colours():
    h, w, border, gap = 50, 30, 4, 6
    strip = draw_rank_list(_img(128), [_img(10), _img(20), _img(30)], [0.1, 0.2, 0.3],
                           matches=[True, False, None], size_hw=(h, w), border=border, gap=gap)
    tile_w = w + 2 * border
    assert strip.size == (4 * tile_w + 3 * gap + gap, h + 2 * border + 16)
    px = strip.load()
    assert px[1, 1] == QUERY_COLOR
    x0 = tile_w + 2 * gap  # first gallery tile
    for i, colour in enumerate([MATCH_COLOR, MISMATCH_COLOR, UNKNOWN_COLOR]):
        left = x0 + i * (tile_w + gap)
        assert px[left + 1, 1] == colour  # top-left border pixel
        assert px[left + tile_w - 2, h + 2 * border - 2] == colour  # bottom-right border pixel
        inside = px[left + border + w // 2, border + h // 2]
        assert abs(inside[0] - 10 * (i + 1)) <= 2  # the image itself, not the border


def test_rank_list_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 gallery images but 1 distances"):
        draw_rank_list(_img(0), [_img(0), _img(0)], [0.1])


def test_html_page_embeds_every_thumbnail_with_its_colour():
    rows = [{"query": _img(0), "query_name": "q<1>", "gallery": [_img(1), _img(2)],
             "gallery_names": ["a", "b"], "distances": [0.25, 0.5], "matches": [True, False]}]
    page = rank_list_html(rows)
    assert page.count("data:image/png;base64,") == 3
    assert "rgb(0,200,0)" in page and "rgb(220,0,0)" in page
    assert "q&lt;1&gt;" in page and "#2 0.500" in page


def test_activation_map_peaks_where_energy_is_and_spans_0_1():
    fmap = torch.zeros(2, 8, 4, 2)
    fmap[0, :, 3, 1] = 5.0  # bottom-right cell of image 0
    fmap[1, 0, 0, 0] = -3.0  # sign does not matter: activations are squared
    maps = activation_maps(fmap, (64, 32))
    assert maps.shape == (2, 64, 32) and maps.dtype == np.float32
    assert maps.min() == pytest.approx(0.0) and maps.max() == pytest.approx(1.0)
    r, c = np.unravel_index(maps[0].argmax(), maps[0].shape)
    assert r >= 48 and c >= 16
    r, c = np.unravel_index(maps[1].argmax(), maps[1].shape)
    assert r < 16 and c < 16


def test_constant_feature_map_gives_zero_map():
    assert np.all(activation_maps(torch.ones(1, 3, 4, 2), (8, 4)) == 0)


def test_overlay_alpha_blends_image_and_colour_map():
    from matplotlib import colormaps

    img = np.full((8, 4, 3), 100, dtype=np.uint8)
    amap = np.ones((8, 4), dtype=np.float32)
    assert np.array_equal(overlay_heatmap(img, amap, alpha=0.0), img)
    top = (np.array(colormaps["jet"](1.0)[:3]) * 255).astype(np.uint8)
    full = overlay_heatmap(img, amap, alpha=1.0)
    assert np.abs(full[0, 0].astype(int) - top.astype(int)).max() <= 1
