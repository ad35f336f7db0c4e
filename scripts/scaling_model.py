"""How a finished sweep would scale with more workers (not a test): its units' measured times,
replayed on W workers.

    .venv/bin/python scripts/scaling_model.py runs/natural_manmade --workers=1,2,4,8,16,64

A unit is a net trained alone or a fused group (its manifest's `fused.group`); its time is
`fused.group_seconds` or the net's `train_seconds`. The replay is the product's rule
(experiment.workers): a unit starts when a worker is idle and every base it copies from has
finished, bases first, then in plan order. It assumes a worker trains as fast on a many-core
host as it did in the measured sweep (one core each; memory bandwidth not modelled), and adds
no start-up or evaluation costs outside the units. The critical path (the longest chain of a
base and a unit that needs it) bounds every W from below.
"""

import argparse
import heapq
import json
import os

from keras_transfer.experiment import results


def units(workdir):
    """[(name, seconds, parent run dirs, is_base)] in the order the rows were written."""
    found, seen = [], set()
    for row in results.read_results(workdir):
        with open(os.path.join(workdir, row["run_dir"], "manifest.json")) as f:
            manifest = json.load(f)
        fused = manifest.get("fused")
        name = f"r{row['replicate']}/{fused['group']}" if fused else row["run_dir"]
        if name in seen:
            continue
        seen.add(name)
        seconds = fused["group_seconds"] if fused else row["train_seconds"]
        parent = (manifest.get("parent") or {}).get("run_dir")
        found.append((name, seconds, {parent} if parent else set(), row["kind"] in
                      ("base", "reduced"), row["run_dir"] if not fused else None))
    return found


def replay(unit_list, workers):
    """The makespan of `unit_list` on `workers` workers, bases first, then in plan order."""
    order = sorted(unit_list, key=lambda u: not u[3])
    done_runs, clock, running, waiting = set(), 0.0, [], list(order)
    while waiting or running:
        idle = workers - len(running)
        for unit in list(waiting):
            if idle and unit[2] <= done_runs:
                waiting.remove(unit)
                heapq.heappush(running, (clock + unit[1], unit[0], unit[4]))
                idle -= 1
        end, _, run_dir = heapq.heappop(running)
        clock = end
        if run_dir:
            done_runs.add(run_dir)
    return clock


def critical_path(unit_list):
    base = {u[4]: u[1] for u in unit_list if u[4]}
    return max(u[1] + sum(base.get(p, 0.0) for p in u[2]) for u in unit_list)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("--workers", default="1,2,4,8,16,64")
    args = parser.parse_args()
    unit_list = units(args.workdir)
    total = sum(u[1] for u in unit_list)
    print(f"{len(unit_list)} units, {total / 60:.1f} min of training in all; critical path "
          f"{critical_path(unit_list) / 60:.1f} min")
    for w in (int(x) for x in args.workers.split(",")):
        span = replay(unit_list, w)
        print(f"{w:>3} workers: {span / 60:6.1f} min  (speed-up {total / span:.2f}x, "
              f"{total / span / w:.0%} of the workers busy)")


if __name__ == "__main__":
    main()
