#!/usr/bin/env python
"""Benchmark exact ReID evaluation at Market-1501 and MSMT17 scale on synthetic structured features.

Features: identity centres + camera offset + noise (512-d, about 15 images per identity), so that the
metrics look like a trained model's. Times are the best of ``--repeats``; the argsort baseline (a plain
``numpy.argsort`` of the same distance matrix, what a classic evaluator pays) is measured in the same run,
so the ratio is meaningful on a busy machine. The MSMT17 run happens in a subprocess to measure its peak RSS.

    python tools/benchmark_eval.py --json benchmark_eval.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from fastreid.utils.env import machine_summary

SCALES = {"market": (3368, 15913, 6), "msmt": (11659, 82161, 15)}


def make_features(num_q, num_g, num_cams, dim=512, per_id=15, noise=2.0, seed=0):
    rng = np.random.default_rng(seed)
    num_ids = max(1, num_g // per_id)
    g_pids = rng.integers(0, num_ids, num_g)
    q_pids = rng.integers(0, num_ids, num_q)
    g_cams, q_cams = rng.integers(0, num_cams, num_g), rng.integers(0, num_cams, num_q)
    centres = rng.standard_normal((num_ids, dim), dtype=np.float32)
    cam_shift = 0.3 * rng.standard_normal((num_cams, dim), dtype=np.float32)
    g = centres[g_pids] + cam_shift[g_cams] + noise * rng.standard_normal((num_g, dim), dtype=np.float32)
    q = centres[q_pids] + cam_shift[q_cams] + noise * rng.standard_normal((num_q, dim), dtype=np.float32)
    return q, g, q_pids, g_pids, q_cams, g_cams


def best_time(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def summary(cmc, ap, inp):
    return {"Rank-1": float(cmc[0] * 100), "mAP": float(ap.mean() * 100), "mINP": float(inp.mean() * 100)}


def run_market(args):
    from fastreid.evaluation import compute_distance, evaluate_features, evaluate_rank

    q, g, qp, gp, qc, gc = make_features(*SCALES["market"], dim=args.dim, noise=args.noise, seed=args.seed)
    dist = compute_distance(q, g)
    t_sort, _ = best_time(lambda: np.argsort(dist, axis=1), args.repeats)
    t_rank, m_rank = best_time(lambda: evaluate_rank(dist, qp, gp, qc, gc), args.repeats)
    t_fused, m_fused = best_time(lambda: evaluate_features(q, g, qp, gp, qc, gc, metric="cosine"), args.repeats)
    return {"scale": "market", "queries": len(q), "gallery": len(g), "argsort_s": t_sort,
            "rank_from_distmat_s": t_rank, "features_to_metrics_s": t_fused,
            "ratio_rank_vs_argsort": t_rank / t_sort, "ratio_fused_vs_argsort": t_fused / t_sort,
            "metrics": summary(*m_fused), "same_metrics": bool(summary(*m_rank) == summary(*m_fused))}


def run_msmt_child(args):
    from fastreid.evaluation import compute_distance, evaluate_features

    q, g, qp, gp, qc, gc = make_features(*SCALES["msmt"], dim=args.dim, noise=args.noise, seed=args.seed)
    t = time.perf_counter()
    metrics = evaluate_features(q, g, qp, gp, qc, gc, metric="cosine")
    elapsed = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    # The full matrix does not fit the memory budget: time argsort on 256 rows and scale it to all queries.
    sample = compute_distance(q[:256], g)
    t_sort = best_time(lambda: np.argsort(sample, axis=1), 1)[0] * len(q) / 256
    print(json.dumps({"scale": "msmt", "queries": len(q), "gallery": len(g), "features_to_metrics_s": elapsed,
                      "argsort_s": t_sort, "argsort_extrapolated_from_rows": 256,
                      "ratio_fused_vs_argsort": elapsed / t_sort, "peak_rss_mb": peak_mb,
                      "metrics": summary(*metrics)}))


def run_msmt(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child-msmt", "--dim", str(args.dim), "--noise",
           str(args.noise), "--seed", str(args.seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=["market", "msmt"], choices=sorted(SCALES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--noise", type=float, default=2.0, help="feature noise; larger = harder ranking")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="", help="also write the results to this JSON file")
    parser.add_argument("--child-msmt", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_msmt:
        run_msmt_child(args)
        return
    report = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv), "machine": machine_summary(), "runs": []}
    for scale in args.scales:
        report["runs"].append(run_market(args) if scale == "market" else run_msmt(args))
    print("command:", report["command"])
    print("machine:", json.dumps(report["machine"]))
    print(f"{'scale':7} {'Q x G':>15} {'argsort s':>10} {'rank s':>8} {'feat->metrics s':>16} {'ratio':>6} "
          f"{'peak MB':>8}  metrics")
    for r in report["runs"]:
        shape = f"{r['queries']}x{r['gallery']}"
        ratio = r.get("ratio_fused_vs_argsort")
        print(f"{r['scale']:7} {shape:>15} {r.get('argsort_s', float('nan')):10.3f} "
              f"{r.get('rank_from_distmat_s', float('nan')):8.3f} {r['features_to_metrics_s']:16.3f} "
              f"{ratio if ratio is not None else float('nan'):6.3f} {r.get('peak_rss_mb', float('nan')):8.0f}  "
              + ", ".join(f"{k} {v:.2f}" for k, v in r["metrics"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
