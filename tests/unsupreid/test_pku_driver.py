"""The PKU adaptation experiment's report: mean / spread per row, Welch tests of the differences read,
the supervised ceiling from results/pku_compare, and runs that stopped recorded as such."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _driver():
    path = REPO / "projects" / "UnsupReID" / "tools" / "pku_adaptation.py"
    spec = importlib.util.spec_from_file_location("pku_adaptation", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_report_tests_adaptation_against_direct_transfer_and_lists_stopped_runs(tmp_path):
    drv = _driver()
    def run(m, seconds=100.0, resumed=False):
        return {"mAP": m, "Rank-1": m + 1, "Rank-5": m + 2, "mINP": m / 2, "seconds": seconds, "resumed": resumed}

    runs = {"direct": {"msinet": {0: run(10.0), 1: run(11.0), 2: run(12.0)}},
            "adapt": {"msinet": {0: run(20.0, 300.0), 1: run(22.0, 500.0), 2: run(21.0, 50.0, resumed=True)}},
            "usl": {"msinet": {0: {"failed": "clustering put all 629 clustered images into a single cluster"},
                               1: run(5.0)}},
            "adapt_eps0.6": {"msinet": {0: run(15.0)}}}
    for row, per_b in runs.items():  # as the runs leave them: runs/<row folder>/<backbone>/seed<k>/result.json
        for b, per_seed in per_b.items():
            for seed, result in per_seed.items():
                folder = tmp_path / "runs" / drv.RUN_FOLDER.get(row, row) / b / f"seed{seed}"
                folder.mkdir(parents=True)
                (folder / "result.json").write_text(json.dumps(result))
    (tmp_path / "runs" / "adapt" / "msinet" / "seed3").mkdir()  # a run in progress: no result.json yet
    summary = drv.write_report(tmp_path)
    assert summary["rows"]["adapt"]["msinet"]["mAP"]["mean"] == 21.0
    assert summary["rows"]["usl"]["msinet"]["seeds"] == [1]  # the stopped seed is not averaged
    assert summary["failed"]["usl"]["msinet"] == {0: runs["usl"]["msinet"][0]["failed"]}
    test = next(t for t in summary["tests"] if t["what"] == "msinet: adapt - direct")
    assert test["diff"] == 10.0 and test["df"] > 2 and test["p"] < 0.01
    assert "idm" not in summary["rows"]  # no run of it yet
    assert summary["rows"]["adapt_eps0.6"]["msinet"]["seeds"] == [0]
    assert "supervised" in summary["rows"] and len(summary["rows"]["supervised"]["msinet"]["seeds"]) == 3
    text = (tmp_path / "results.md").read_text()
    assert "adaptation, fixed eps 0.6 (first runs) | 15.0" in text and "IDM" not in text
    assert "stopped: seed 0" in text and "usl, msinet, seed 0: clustering put all" in text
    assert json.loads((tmp_path / "results.json").read_text())["rows"]["direct"]["msinet"]["mAP"]["mean"] == 11.0
    assert "| msinet: adapt - direct | +10.0 |" in text and "| yes |" in text.split("msinet: adapt - direct")[1][:60]
    # wall times: a resumed run recorded only its last part, so it is left out of the mean
    assert "| clustering adaptation from the source | 400 (300-500) |" in text


def test_readme_table_matches_the_recorded_results():
    """Every cell of the README's real-data table (all rows of every backbone, the fixed-radius row aside) is
    the recorded results.json's (mean ± std / Rank-1 (seeds)), so the page cannot drift from the runs it
    reports: a commit that adds runs to results.json must update the page with them."""
    drv = _driver()
    summary = json.loads((REPO / "results" / "unsup_pku" / "results.json").read_text())
    readme = (REPO / "projects" / "UnsupReID" / "README.md").read_text()
    section = readme.split("## Results on real data")[1].split("\n## ")[0]
    table = next(block for block in section.split("\n\n") if block.startswith("| ")).splitlines()
    checked = 0
    rows = (*drv.ROWS, *drv.EXTRA_ROWS, "supervised")
    for row in rows:
        line = next(ln for ln in table if ln.startswith(f"| {drv.ROW_NAMES[row].split(' (')[0]}"))
        cells = [c.strip() for c in line.strip("|").split("|")[1:]]
        for b, cell in zip(drv.BACKBONES, cells):
            s = summary["rows"].get(row, {}).get(b)  # None: no finished run yet ("-")
            assert cell == drv._row_cell(s, {}), (row, b, cell)
            checked += 1
    assert checked == 3 * len(rows)


def test_drivers_sharing_an_output_skip_the_runs_another_live_driver_trains(tmp_path, monkeypatch):
    """Several drivers may run on one OUTPUT: a run whose lock a live driver holds is skipped (None), a
    lock left by a driver that died is taken over and the run trained; the lock goes with the run."""
    import socket
    import subprocess
    import sys

    drv = _driver()
    trained = []

    def fake_run(cmd, run_dir, log_name="driver_log.txt"):  # what a training command leaves
        trained.append(run_dir)
        (run_dir / "metrics.json").write_text(json.dumps({"mAP": 12.0, "Rank-1": 13.0, "Rank-5": 20.0,
                                                          "mINP": 5.0}) + "\n")
        return 7.0

    monkeypatch.setattr(drv, "_run", fake_run)
    run = tmp_path / "runs" / "adapt" / "msinet" / "seed0"
    run.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / drv.DRIVER_LOCK).write_text(f"{other.pid}\t{socket.gethostname()}\t2026-01-01 00:00:00\n")
        assert drv._train("x.py", tmp_path / "c.yml", run, []) is None and trained == []
    finally:
        other.kill()
        other.wait()
    result = drv._train("x.py", tmp_path / "c.yml", run, [])  # its driver is gone: taken over
    assert trained == [run] and result["mAP"] == 12.0 and result["seconds"] == 7.0
    assert not (run / drv.DRIVER_LOCK).exists()
    assert drv._train("x.py", tmp_path / "c.yml", run, [])["mAP"] == 12.0 and trained == [run]  # finished


_CHILD = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    time.sleep(0.5)  # a save that takes a while
    (folder / "saved").write_text("yes")
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, stop)
(folder / "started").write_text("yes")
time.sleep(60)
"""

_DRIVER = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("drv", sys.argv[1])
drv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(drv)
drv._run([sys.executable, sys.argv[2], sys.argv[3]], Path(sys.argv[3]))
"""


def test_a_sigterm_to_the_driver_reaches_the_run_which_saves_before_the_driver_stops(tmp_path):
    """`kill` of the driver (a scheduler's stop) is passed to the training run, the driver waits for it
    to save, then stops with one line saying to rerun (not a traceback, nothing recorded as failed)."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "child.py").write_text(_CHILD)
    (tmp_path / "driver.py").write_text(_DRIVER)
    script = REPO / "projects" / "UnsupReID" / "tools" / "pku_adaptation.py"
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(script), str(tmp_path / "child.py"),
                               str(tmp_path)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "started").exists() and time.time() < deadline:
        time.sleep(0.1)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=60)
    assert (tmp_path / "saved").read_text() == "yes"
    assert driver.returncode == 1 and err.strip().splitlines() == [
        f"stopped: {tmp_path} was stopped by a signal and saved; rerun the command to continue"]
