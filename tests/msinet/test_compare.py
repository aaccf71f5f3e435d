"""compare_genotypes: the experiment's parts, and a tiny end-to-end run on generated data."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

from msinet.compare import (
    LEVEL,
    Candidate,
    build_candidates,
    exceeds_noise,
    markdown_report,
    pairwise_tests,
    search_agreement,
    summarize,
    welch_test,
)
from msinet.genotypes import NAMED_GENOTYPES, random_genotype
from msinet.interaction import OP_NAMES

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "projects" / "MSINet" / "tools" / "compare_genotypes.py"
G = NAMED_GENOTYPES


def test_candidates_cover_searched_msmt_random_uniform_and_baselines():
    searched = [G["gate"], G["none"]]
    cands = build_candidates(searched, num_random=2, random_seed=5)
    assert [c.name for c in cands] == ["searched", "msmt", "random-1", "random-2", *OP_NAMES,
                                       "osnet", "resnet50"]
    assert cands[0].genotype(0) == G["gate"] and cands[0].genotype(1) == G["none"]  # one per seed
    assert cands[2].genotype(0) == cands[2].genotype(3) == random_genotype(5)  # fixed over seeds
    assert cands[3].genotype(0) == random_genotype(6)
    assert cands[-1].genotype(0) is None and cands[-1].backbone == "resnet50"
    with pytest.raises(ValueError, match="baseline 'vit'"):
        build_candidates([], 0, baselines=["vit"])


def test_search_agreement_counts_unanimous_and_pairwise_ims_against_chance():
    a = ["gate"] * 12
    b = ["gate"] * 6 + ["none"] * 6
    c = ["gate"] * 3 + ["none"] * 9
    agree = search_agreement([a, b, c])
    assert agree["unanimous_ims"] == 3
    assert agree["pairwise_agreeing_ims"] == pytest.approx((6 + 3 + 9) / 3)
    assert agree["pairwise_chance"] == 3.0 and agree["unanimous_chance"] == pytest.approx(12 / 16)
    assert agree["majority_share_per_im"][0] == 1.0 and agree["majority_share_per_im"][-1] == pytest.approx(2 / 3)
    tied = search_agreement([["none"] * 12, ["attention"] * 6 + ["none"] * 6])
    assert tied["unanimous_ims"] == 6 and tied["unanimous_ims_attention_as_none"] == 12
    assert tied["pairwise_chance_attention_as_none"] == 4.0
    sm = [[[0.4, 0.3, 0.2, 0.1]] * 12, [[0.26, 0.25, 0.25, 0.24]] * 12]
    agree = search_agreement([a, a], sm)
    assert agree["margin_min"] == pytest.approx(0.01) and agree["margin_mean"] == pytest.approx(0.055)


def _run(map_value, seed):
    return {"Rank-1": map_value + 5, "Rank-5": 90.0, "mAP": map_value, "mINP": map_value / 2,
            "train_seconds": 60.0, "params": 2_000_000, "gmacs": 0.5, "base_lr": 0.02, "seed": seed}


def _welch_reference(a, b):
    """Welch's t-test computed by scipy, independently of fastreid.utils.stats."""
    from scipy import stats

    r = stats.ttest_ind(a, b, equal_var=False)
    return r.statistic, r.pvalue


def test_summary_means_sample_std_and_the_welch_noise_test():
    cands = [Candidate("searched", "msinet", (tuple(G["gate"]),)), Candidate("osnet", "osnet"),
             Candidate("none", "msinet", (tuple(G["none"]),)), Candidate("exchange", "msinet", (tuple(G["exchange"]),))]
    runs = {"searched": {0: _run(30, 0), 1: _run(32, 1), 2: _run(34, 2)},
            "osnet": {0: _run(20, 0), 1: _run(21, 1), 2: _run(22, 2)},
            "none": {0: _run(29, 0), 1: _run(33, 1), 2: _run(35, 2)},
            # +4.0 at t = 2.45 with 4 degrees of freedom: beyond two standard errors, yet p = 0.07
            "exchange": {0: _run(34, 0), 1: _run(36, 1), 2: _run(38, 2)}}
    summary = summarize(cands, runs)
    assert summary["searched"]["mAP"]["mean"] == pytest.approx(32.0)
    assert summary["searched"]["mAP"]["std"] == pytest.approx(2.0)  # sample std (n - 1)
    assert summary["osnet"]["genotype"] is None and summary["none"]["genotype"] == G["none"]
    assert "mAP_vs_reference" not in summary["osnet"]  # no reference asked for

    test = welch_test(summary["exchange"], summary["searched"])
    t, p = _welch_reference([34, 36, 38], [30, 32, 34])
    assert test["diff"] == pytest.approx(4.0) and test["t"] == pytest.approx(t) and test["p"] == pytest.approx(p)
    assert test["df"] == pytest.approx(4.0) and 0.05 < test["p"] < 0.1
    assert exceeds_noise(summary["osnet"], summary["searched"]) is True  # t = -8.5, p = 0.004
    assert exceeds_noise(summary["none"], summary["searched"]) is False
    assert exceeds_noise(summary["exchange"], summary["searched"]) is False  # the level, not 2 standard errors
    assert exceeds_noise(summary["exchange"], summary["searched"], level=0.1) is True

    ranked = summarize(cands, runs, reference="searched")
    assert "mAP_vs_reference" not in ranked["searched"]
    vs = ranked["exchange"]["mAP_vs_reference"]
    assert vs["reference"] == "searched" and vs["level"] == LEVEL == 0.05 and vs["p"] == pytest.approx(p)

    md = markdown_report(summary, "searched")
    line = next(x for x in md.splitlines() if x.startswith("| exchange |"))
    assert f"+4.0, t = {t:.2f}, df = 4.0, p = {p:.3f} (within noise)" in line
    osnet_line = next(x for x in md.splitlines() if x.startswith("| osnet | 3 |"))
    assert "-11.0, t = -8.52" in osnet_line and "(beyond noise at p < 0.05)" in osnet_line
    assert "Welch's t-test" in md and "at p < 0.05" in md
    assert "(beyond noise at p < 0.1)" in markdown_report(summary, "searched", level=0.1)
    # the report reads only per-seed values: a results.json written before the tests were kept renders the same
    assert markdown_report(json.loads(json.dumps(ranked)), "searched") == md

    one = summarize(cands, {"searched": {0: _run(30, 0)}, "osnet": {0: _run(20, 0)}}, reference="searched")
    assert exceeds_noise(one["osnet"], one["searched"]) is None and math.isnan(one["none"]["mAP"]["mean"])
    assert one["osnet"]["mAP_vs_reference"] is None
    md_one = markdown_report(one, "searched")
    assert "-10.0 (untested" in md_one and "Noise test" not in md_one  # no test made, no level stated


def test_pairwise_tests_cover_every_pair_within_a_backbone_family():
    cands = [Candidate(n, "msinet", (tuple(G[n]),)) for n in ("gate", "none", "exchange")] + [Candidate("osnet", "osnet")]
    runs = {"gate": {s: _run(v, s) for s, v in enumerate((30, 31, 32))},
            "none": {s: _run(v, s) for s, v in enumerate((20, 21, 23))},
            "exchange": {s: _run(v, s) for s, v in enumerate((29, 32, 33))},
            "osnet": {s: _run(v, s) for s, v in enumerate((40, 41, 42))}}
    summary = summarize(cands, runs)
    pairs = pairwise_tests(summary)
    assert [(t["a"], t["b"]) for t in pairs] == [("gate", "none"), ("gate", "exchange"), ("none", "exchange")]
    for t in pairs:
        ref_t, ref_p = _welch_reference(summary[t["a"]]["mAP"]["per_seed"], summary[t["b"]]["mAP"]["per_seed"])
        assert t["t"] == pytest.approx(ref_t) and t["p"] == pytest.approx(ref_p)
    hits = [t for t in pairs if t["p"] < 0.05]
    assert {(t["a"], t["b"]) for t in hits} == {("gate", "none"), ("none", "exchange")}
    md = markdown_report(summary, "gate")
    assert "Every pair of msinet rows (3 pairs): 2 differ at p < 0.05: gate - none" in md
    assert "none - exchange" in md and "gate - exchange" not in md
    assert "Every pair of osnet" not in md  # a family of one row


def test_report_gives_the_per_seed_range_of_params_and_gmacs():
    cands = [Candidate("searched", "msinet", (tuple(G["gate"]), tuple(G["none"])))]
    runs = {"searched": {0: dict(_run(30, 0), gmacs=0.2123, params=2_325_620),
                         1: dict(_run(31, 1), gmacs=0.2208, params=2_323_439)}}
    summary = summarize(cands, runs)
    assert summary["searched"]["gmacs"] == 0.2123 and summary["searched"]["gmacs_per_seed"] == [0.2123, 0.2208]
    line = next(x for x in markdown_report(summary).splitlines() if x.startswith("| searched |"))
    assert "| 2.32-2.33 M | 0.21-0.22 |" in line
    old = {"searched": {k: v for k, v in summary["searched"].items() if not k.endswith("_per_seed")}}
    assert "| 2.33 M | 0.21 |" in markdown_report(old)  # an old results.json: the first seed's values


SMALL = ["MODEL.MSINET.CHANNELS", "[16, 64, 96, 128]", "INPUT.SIZE_TRAIN", "[32, 16]", "INPUT.SIZE_TEST", "[32, 16]",
         "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu", "TEST.IMS_PER_BATCH", "128",
         "SOLVER.MAX_EPOCH", "1", "SOLVER.ITERS_PER_EPOCH", "2", "SOLVER.IMS_PER_BATCH", "16",
         "SOLVER.WARMUP_EPOCHS", "0", "SOLVER.STEPS", "[1]", "TEST.EVAL_PERIOD", "0"]


def _load_cli():
    spec = importlib.util.spec_from_file_location("compare_genotypes_cli", CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_help_names_the_options(capsys):
    with pytest.raises(SystemExit) as e:
        _load_cli().main(["--help"])
    assert e.value.code == 0 and "--tune-lr" in capsys.readouterr().out


@pytest.mark.slow
def test_tiny_comparison_searches_trains_reports_and_resumes(tmp_path, capsys):
    main = _load_cli().main
    out = tmp_path / "cmp"
    argv = ["--config-file", str(REPO / "projects/MSINet/configs/Demo/msinet_synthetic.yml"),
            "--search-config", str(REPO / "projects/MSINet/configs/Search/synthetic_demo.yml"),
            "--seeds", "1", "--random", "0", "--architectures", "searched,osnet", "--output", str(out),
            "--tune-lr", "0.01,0.02", "--valid-ratio", "0.5",
            "DATASETS.ROOT", str(tmp_path / "datasets"), *SMALL]
    report = main(argv)
    table = capsys.readouterr().out
    assert "| searched | 1 |" in table and "| osnet | 1 |" in table
    data = json.loads((out / "results.json").read_text())
    assert data == report and set(data["architectures"]) == {"searched", "osnet"}
    searched = data["architectures"]["searched"]
    genotype = (out / "search" / "seed0" / "genotype.yaml").read_text()
    assert all(op in genotype for op in searched["genotype"][0:1])
    assert 0.0 <= searched["mAP"]["mean"] <= 100.0 and searched["params"] > 0 and searched["gmacs"] > 0
    assert data["search_agreement"]["seeds"] == 1
    tuned = json.loads((out / "tune" / "chosen.json").read_text())
    assert set(tuned["chosen_lr"]) == {"msinet", "osnet"} and set(tuned["validation_mAP"]["osnet"]) == {"0.01", "0.02"}
    assert data["architectures"]["osnet"]["base_lr"] == tuned["chosen_lr"]["osnet"]
    assert (out / "results.png").stat().st_size > 0 and (out / "results.md").is_file()
    result = out / "runs" / "osnet" / "seed0" / "result.json"
    stamp = result.stat().st_mtime_ns
    assert main(argv) == report  # rerun: nothing retrained, same report
    assert result.stat().st_mtime_ns == stamp


def test_on_validation_trains_and_evaluates_every_run_on_held_out_training_identities(tmp_path):
    main = _load_cli().main
    out = tmp_path / "val"
    argv = ["--config-file", str(REPO / "projects/MSINet/configs/Demo/msinet_synthetic.yml"), "--no-search",
            "--seeds", "2", "--random", "0", "--architectures", "msmt", "--baselines", "", "--on-validation",
            "--valid-ratio", "0.25", "--output", str(out), "DATASETS.ROOT", str(tmp_path / "datasets"), *SMALL]
    report = main(argv)
    assert report["recipe"]["evaluated_on"] == "validation"
    assert report["architectures"]["msmt"]["seeds"] == [0, 1]
    splits = [[line.split(",") for line in (out / "valid" / f"split_seed{s}.csv").read_text().splitlines()]
              for s in (0, 1)]
    held = [{r[1] for r in rows if r[3] != "train"} for rows in splits]
    assert held[0] and held[0] != held[1]  # each seed holds out its own identities
    import yaml

    for s in (0, 1):
        data = yaml.safe_load((out / "runs" / "msmt" / f"seed{s}" / "config.yaml").read_text())["DATASETS"]
        assert list(data["NAMES"]) == ["CustomReID"] and list(data["TESTS"]) == ["CustomReID"]
        assert Path(data["CUSTOM"]["DIR"], data["CUSTOM"]["LIST"]) == (out / "valid" / f"split_seed{s}.csv").resolve()
    # the held-out identities are training identities: every image path is from the training folder
    assert all("/bounding_box_train/" in r[0] or "/train" in r[0] for rows in splits for r in rows)
    assert "validation split of the training identities" in (out / "results.md").read_text()
    with pytest.raises(SystemExit, match="--on-validation with a search"):
        main([a for a in argv if a != "--no-search"])
