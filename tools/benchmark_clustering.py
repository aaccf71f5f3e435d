#!/usr/bin/env python
"""Benchmark the clustering step of unsupervised ReID (Jaccard distance + DBSCAN) at Market-1501 and MSMT17
training-set scale on synthetic clustered features, against a dense reference of the same algorithm.

Features (seeded, 2048-d, L2-normalised): identities drawn uniformly (Market: 751 ids, 12,936 images;
MSMT17: 1,041 ids, 32,621 images), identity centres grouped in families of 4 that share a parent
direction, a per-camera offset, per-image noise of random strength, and 8% unrelated images (each its own
identity), so that DBSCAN finds many clusters, some outliers and a few merged identities.

Each measurement runs in its own subprocess: the features are loaded from a temporary .npy file, the
resident set size is read (baseline), the clustering runs, and the peak memory reported is the process's
peak RSS (VmHWM) minus that baseline. ``ours`` is :func:`fastreid.evaluation.jaccard_distance` +
:func:`fastreid.evaluation.dbscan_labels`; ``reference`` is written here the way Cluster Contrast does it:
faiss kNN, then dense N x N float32 encodings (two alive during query expansion), a dense N x N float32
distance, and scikit-learn DBSCAN on it. The reference is skipped where its estimated memory exceeds
``--max-reference-gb``. Memory in GB = 1e9 bytes.

    python tools/benchmark_clustering.py --json results/clustering_benchmark/benchmark.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

SCALES = {"market": {"images": 12936, "ids": 751, "cameras": 6},
          "msmt": {"images": 32621, "ids": 1041, "cameras": 15},
          "smoke": {"images": 1200, "ids": 70, "cameras": 6}}  # a quick check of this tool
TARGETS = {"market": {"seconds": 60.0, "peak_memory_gb": 4.0}, "msmt": {"seconds": 240.0, "peak_memory_gb": 8.0}}
DIM = 2048
GB = 1e9


def make_features(images: int, ids: int, cameras: int, dim: int = DIM, seed: int = 0, family: int = 4,
                  parent_share: float = 0.6, camera_shift: float = 0.4, noise=(0.8, 2.0),
                  unrelated: float = 0.08):
    """(images, dim) float32 unit features and (images,) identity labels; see the module docstring."""
    rng = np.random.default_rng(seed)
    scale = np.float32(1.0 / np.sqrt(dim))
    parents = rng.standard_normal((ids // family + 1, dim), dtype=np.float32) * scale
    own = rng.standard_normal((ids, dim), dtype=np.float32) * scale
    centres = parent_share * parents[np.arange(ids) // family] + np.sqrt(1 - parent_share ** 2) * own
    shifts = camera_shift * rng.standard_normal((cameras, dim), dtype=np.float32) * scale
    pids = np.sort(rng.integers(0, ids, images))
    cams = rng.integers(0, cameras, images)
    feats = centres[pids] + shifts[cams]
    lone = rng.random(images) < unrelated
    feats[lone] = rng.standard_normal((int(lone.sum()), dim), dtype=np.float32) * scale + shifts[cams[lone]]
    pids[lone] = ids + np.arange(int(lone.sum()))
    strength = rng.uniform(*noise, images).astype(np.float32)
    for s in range(0, images, 4096):
        e = min(s + 4096, images)
        feats[s:e] += strength[s:e, None] * rng.standard_normal((e - s, dim), dtype=np.float32) * scale
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return feats.astype(np.float32), pids


# ----------------------------------------------------------------------------------------------- child side

def _proc_status_kb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def renumber(labels: np.ndarray) -> np.ndarray:
    """Cluster ids by first appearance (-1 kept), so two runs' labels compare with ==."""
    out = np.full(len(labels), -1, dtype=np.int64)
    seen: Dict[int, int] = {}
    for i, label in enumerate(labels.tolist()):
        if label >= 0:
            out[i] = seen.setdefault(label, len(seen))
    return out


def reference_jaccard(feats: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """Cluster Contrast's Jaccard distance, dense: (N, N) float32, as its compute_jaccard_distance keeps it."""
    import faiss

    n = len(feats)
    index = faiss.IndexFlatL2(feats.shape[1])
    index.add(feats)
    table = index.search(feats, k1)[1]  # k1 columns, the image itself included
    half = int(np.around(k1 / 2.0))

    def reciprocal(i: int, k: int) -> np.ndarray:
        forward = table[i, :k + 1]
        return forward[(table[forward, :k + 1] == i).any(axis=1)]

    full = [reciprocal(i, k1) for i in range(n)]
    halves = [reciprocal(i, half) for i in range(n)]
    v = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        parts = [full[i]]
        for c in full[i]:
            if len(np.intersect1d(halves[c], full[i])) > 2.0 / 3.0 * len(halves[c]):
                parts.append(halves[c])
        members = np.unique(np.concatenate(parts))
        d = 2.0 - 2.0 * (feats[members] @ feats[i])
        w = np.exp(-(d - d.min()))
        v[i, members] = w / w.sum()
    if k2 != 1:
        expanded = np.zeros_like(v)  # both alive at once, as in Cluster Contrast
        for i in range(n):
            expanded[i] = v[table[i, :k2]].mean(axis=0)
        del v
        v = expanded
    rows, cols = np.nonzero(v)
    order = np.argsort(cols, kind="stable")
    col_rows, col_ptr = rows[order], np.searchsorted(cols[order], np.arange(n + 1))
    dist = np.empty((n, n), dtype=np.float32)
    for i in range(n):
        total = np.zeros(n, dtype=np.float32)
        for k in np.flatnonzero(v[i]):
            others = col_rows[col_ptr[k]:col_ptr[k + 1]]
            total[others] += np.minimum(v[i, k], v[others, k])
        dist[i] = 1.0 - total / (2.0 - total)
    del v
    np.maximum(dist, 0.0, out=dist)
    return dist


def run_ours(feats: np.ndarray, args) -> Dict[str, Any]:
    from fastreid.evaluation import dbscan_labels, jaccard_distance

    stages: Dict[str, float] = {}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            stages[stage] = round(time.perf_counter() - start, 2)

    distance = jaccard_distance(feats, args.k1, args.k2, progress=progress)
    stages["jaccard_total"] = round(time.perf_counter() - start, 2)
    labels = dbscan_labels(distance, args.eps, args.min_samples)
    stages["dbscan"] = round(time.perf_counter() - start - stages["jaccard_total"], 2)
    return {"labels": labels, "stored_pairs": int(distance.nnz), "stage_seconds_cumulative": stages}


def run_reference(feats: np.ndarray, args) -> Dict[str, Any]:
    from sklearn.cluster import DBSCAN

    start = time.perf_counter()
    dist = reference_jaccard(feats, args.k1, args.k2)
    jaccard_seconds = time.perf_counter() - start
    raw = DBSCAN(eps=args.eps, min_samples=args.min_samples, metric="precomputed", n_jobs=-1).fit_predict(dist)
    return {"labels": renumber(raw), "jaccard_seconds": round(jaccard_seconds, 2)}


def child(args) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="  [%(asctime)s] %(message)s", stream=sys.stderr)
    logging.getLogger("fastreid").setLevel(logging.INFO)  # the ~10% progress lines of the Jaccard distance
    import faiss  # noqa: F401  imported before the baseline, as the other libraries are
    import sklearn.cluster  # noqa: F401

    import fastreid.evaluation  # noqa: F401

    feats = np.load(args.features)
    baseline_kb = _proc_status_kb("VmRSS")
    start = time.perf_counter()
    out = (run_ours if args.child == "ours" else run_reference)(feats, args)
    seconds = time.perf_counter() - start
    peak_kb = _proc_status_kb("VmHWM")
    np.save(args.labels_out, out.pop("labels"))
    out.update({"seconds": round(seconds, 2), "peak_memory_gb": round((peak_kb - baseline_kb) * 1024 / GB, 3),
                "baseline_rss_gb": round(baseline_kb * 1024 / GB, 3), "peak_rss_gb": round(peak_kb * 1024 / GB, 3),
                "load_avg_after": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------- parent side

def measure(kind: str, features_path: str, labels_path: str, args) -> Dict[str, Any]:
    """Run one measurement in a fresh process; its JSON line comes back, its labels in ``labels_path``."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--features", features_path,
           "--labels-out", labels_path, "--eps", str(args.eps), "--min-samples", str(args.min_samples),
           "--k1", str(args.k1), "--k2", str(args.k2)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _meets(run: Dict[str, Any], target: Optional[Dict[str, float]]) -> Optional[bool]:
    """Whether a run is within the issue's time and memory targets for its scale (None: no target)."""
    if target is None:
        return None
    return bool(run["seconds"] <= target["seconds"] and run["peak_memory_gb"] <= target["peak_memory_gb"])


def reference_memory_estimate_gb(images: int) -> float:
    """Two dense N x N float32 matrices alive at once, plus the features."""
    return (2 * images * images * 4 + images * DIM * 4) / GB


def run_scale(name: str, args, workdir: str, log: Callable[[str], None]) -> Dict[str, Any]:
    from fastreid.evaluation import clustering_quality

    spec = SCALES[name]
    feats, pids = make_features(spec["images"], spec["ids"], spec["cameras"], seed=args.seed)
    features_path = os.path.join(workdir, f"{name}_features.npy")
    np.save(features_path, feats)
    del feats
    ours_labels_path = os.path.join(workdir, f"{name}_ours.npy")
    log(f"{name}: {spec['images']} images, ours ...")
    ours = measure("ours", features_path, ours_labels_path, args)
    labels = np.load(ours_labels_path)
    result: Dict[str, Any] = {
        "images": spec["images"], "identities": spec["ids"], "cameras": spec["cameras"], "dim": DIM,
        "seconds": ours["seconds"], "peak_memory_gb": ours["peak_memory_gb"],
        "clusters": int(labels.max()) + 1, "outliers": int((labels < 0).sum()),
        "stored_pairs": ours["stored_pairs"], "stored_pairs_per_image": round(ours["stored_pairs"] / len(labels), 1),
        "stage_seconds_cumulative": ours["stage_seconds_cumulative"],
        "baseline_rss_gb": ours["baseline_rss_gb"], "peak_rss_gb": ours["peak_rss_gb"],
        "load_avg_after": ours["load_avg_after"],
        "quality_vs_true_ids": {k: (round(v, 4) if isinstance(v, float) else v)
                                for k, v in clustering_quality(labels, pids).items()},
        "targets": TARGETS.get(name),
        "meets_targets": _meets(ours, TARGETS.get(name)),
    }
    estimate = reference_memory_estimate_gb(spec["images"])
    if args.no_reference:
        result["labels_equal_reference"] = None
        result["reference"] = {"skipped": "--no-reference"}
    elif estimate > args.max_reference_gb:
        result["labels_equal_reference"] = None
        result["reference"] = {"skipped": f"dense reference needs about {estimate:.1f} GB, over "
                                          f"--max-reference-gb {args.max_reference_gb:g}"}
    else:
        log(f"{name}: dense reference (about {estimate:.1f} GB) ...")
        ref_labels_path = os.path.join(workdir, f"{name}_reference.npy")
        ref = measure("reference", features_path, ref_labels_path, args)
        ref_labels = np.load(ref_labels_path)
        result["labels_equal_reference"] = bool(np.array_equal(labels, ref_labels))
        result["reference"] = {"seconds": ref["seconds"], "jaccard_seconds": ref["jaccard_seconds"],
                               "peak_memory_gb": ref["peak_memory_gb"], "peak_rss_gb": ref["peak_rss_gb"],
                               "clusters": int(ref_labels.max()) + 1, "outliers": int((ref_labels < 0).sum()),
                               "memory_estimate_gb": round(estimate, 2), "load_avg_after": ref["load_avg_after"]}
        result["reference_seconds_over_ours"] = round(ref["seconds"] / ours["seconds"], 2)
        result["reference_memory_over_ours"] = round(ref["peak_memory_gb"] / max(ours["peak_memory_gb"], 1e-3), 2)
    os.remove(features_path)
    return result


def _target_word(meets: Optional[bool]) -> str:
    return "-" if meets is None else "met" if meets else "MISSED"


def print_table(report: Dict[str, Any]) -> None:
    print(f"\n{'scale':7} {'images':>7} {'ours s':>8} {'ours GB':>8} {'clusters':>8} {'outliers':>8} "
          f"{'ref s':>8} {'ref GB':>8} {'ref/ours s':>10} {'equal':>6} {'targets':>8}")
    for name, r in report["scales"].items():
        ref = r["reference"]
        ref_s = f"{ref['seconds']:8.1f}" if "seconds" in ref else f"{'-':>8}"
        ref_gb = f"{ref['peak_memory_gb']:8.2f}" if "peak_memory_gb" in ref else f"{'-':>8}"
        ratio = r.get("reference_seconds_over_ours")
        print(f"{name:7} {r['images']:7d} {r['seconds']:8.1f} {r['peak_memory_gb']:8.2f} {r['clusters']:8d} "
              f"{r['outliers']:8d} {ref_s} {ref_gb} {ratio if ratio is not None else '-':>10} "
              f"{str(r['labels_equal_reference']):>6} {_target_word(r['meets_targets']):>8}")
        if "skipped" in ref:
            print(f"        reference skipped: {ref['skipped']}")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default="", help="write the results to this JSON file")
    parser.add_argument("--scales", default="market,msmt", help="comma-separated: market, msmt (smoke: 1,200 images)")
    parser.add_argument("--no-reference", action="store_true", help="skip the dense reference")
    parser.add_argument("--max-reference-gb", type=float, default=16.0,
                        help="skip the dense reference where it would need more memory than this")
    parser.add_argument("--eps", type=float, default=0.6)
    parser.add_argument("--min-samples", type=int, default=4)
    parser.add_argument("--k1", type=int, default=30)
    parser.add_argument("--k2", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--features", help=argparse.SUPPRESS)
    parser.add_argument("--labels-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    from fastreid.utils.env import machine_summary
    from fastreid.utils.errors import ToolError, exit_on_user_error

    with exit_on_user_error():
        scales = [s.strip() for s in args.scales.split(",") if s.strip()]
        unknown = [s for s in scales if s not in SCALES]
        if unknown or not scales:
            raise ToolError(f"--scales {args.scales!r}; expected a comma-separated subset of {', '.join(SCALES)}")
        report: Dict[str, Any] = {
            "command": " ".join(["python"] + [os.path.relpath(sys.argv[0])] + sys.argv[1:]),
            "machine": machine_summary(),
            "settings": {"eps": args.eps, "min_samples": args.min_samples, "k1": args.k1, "k2": args.k2,
                         "seed": args.seed, "dim": DIM},
            "note": "wall times on a shared machine (other jobs were running); see load_avg_after per run",
            "scales": {},
        }
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench_clustering_") as workdir:
            for name in scales:
                report["scales"][name] = run_scale(name, args, workdir, lambda m: print(m, flush=True))
        report["total_seconds"] = round(time.perf_counter() - started, 1)
        print(f"machine: {report['machine']['cpu']}, {report['machine']['cpus']} cpus, "
              f"load {report['machine']['load_avg']}")
        print_table(report)
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
            print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
