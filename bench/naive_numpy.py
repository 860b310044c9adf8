"""The naive bootstrap exactly as the Python reference tool runs it, for the ratio in bench/README.md.

Open Bandit Pipeline (obp.utils.estimate_confidence_interval_by_bootstrap, called by every
estimator's estimate_interval) computes the per-row terms once (for DR: qpi + w (r - q)) and then,
per replicate, np.mean(random_.choice(samples, size=n)) with random_ = np.random.RandomState(seed);
the interval is the 2.5% / 97.5% np.percentile of the replicate means. This script does the same on
the bench's CSV log, so no obp install is needed (obp's own code adds only argument checks).

    python3 bench/naive_numpy.py --csv bench/out/data/log-1e6.csv [--replicates 1000] [--budget-seconds 60]

Prints one JSON line like the JS cases. When the first 10 replicates project past the budget for
all of them, only 100 run and the time is scaled (said in the output).
"""
import argparse
import json
import resource
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--budget-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=12345)
    a = ap.parse_args()

    t0 = time.perf_counter()
    names = open(a.csv).readline().strip().split(",")
    data = np.loadtxt(a.csv, delimiter=",", skiprows=1)
    col = {name: data[:, j] for j, name in enumerate(names)}
    load_seconds = time.perf_counter() - t0

    w = col["target_propensity"] / col["propensity"]
    samples = col["q_hat_target"] + w * (col["reward"] - col["q_hat_logged"])
    n = samples.shape[0]
    point = float(np.mean(samples))

    random_ = np.random.RandomState(a.seed)
    boot = []
    limit = a.replicates
    t0 = time.perf_counter()
    for b in range(a.replicates):
        if b >= limit:
            break
        boot.append(np.mean(random_.choice(samples, size=n)))
        if b + 1 == 10 and limit > 100 and (time.perf_counter() - t0) / 10 * a.replicates > a.budget_seconds:
            limit = 100
    measured = time.perf_counter() - t0
    scale = a.replicates / len(boot)
    seconds = measured * scale
    out = {
        "case": "bootstrap-dr-naive-1e6",
        "variant": "numpy (OBP's loop)" + (f" ({len(boot)} run, scaled)" if scale > 1 else ""),
        "seconds": seconds,
        "rows": n,
        "rowsPerSecond": n / seconds,
        "replicates": a.replicates,
        "replicatesRun": len(boot),
        "scaled": scale > 1,
        "measuredSeconds": measured,
        "loadSeconds": load_seconds,
        "nsPerRowReplicate": seconds * 1e9 / (n * a.replicates),
        "numpy": np.__version__,
        "maxRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpuSeconds": resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        "naiveDr": {
            "value": point,
            "se": float(np.std(boot, ddof=1)),
            "ci": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
