"""A KerasTuner worker's claim on the net it trains: a heartbeat file in the shared workdir
(WORKDIR/kerastuner/leases/<net>.json) that the chief watches to hand a silent worker's net to
another one."""

import os
import signal
import threading

from keras_transfer import files


def lease_path(workdir, net_key):
    """One flat file per net key ("r0/A3B+" -> leases/r0.A3B+.json): no folders left behind."""
    return os.path.join(workdir, "kerastuner", "leases", f"{net_key.replace('/', '.')}.json")


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


class LeaseLost(RuntimeError):
    """Another worker took over this net while we trained it."""


class Lease:
    """This worker's heartbeat on a net: a small file rewritten every `interval` seconds."""

    def __init__(self, workdir, net_name, tuner_id, trial_id, interval):
        self.path = lease_path(workdir, net_name)
        self.owner = {"net": net_name, "tuner": tuner_id, "trial": trial_id,
                      "host": os.uname().nodename, "pid": os.getpid()}
        self.interval, self.lost = interval, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _write(self, beat):
        files.write_json(self.path, {**self.owner, "beat": beat})

    def _ours(self):
        held = files.read_json(self.path) or {}
        return (held.get("tuner"), held.get("trial")) == (self.owner["tuner"], self.owner["trial"])

    def _beat(self):
        beat = 0
        while not self._stop.wait(self.interval):
            if not self._ours():
                self.lost = True
                print(f"{self.owner['tuner']}: lost the lease on {self.owner['net']}; stopping",
                      flush=True)
                os.kill(os.getpid(), signal.SIGTERM)  # fit.StopOnSignal ends the fit
                return
            beat += 1
            self._write(beat)

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._write(0)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if not self.lost and self._ours():
            os.remove(self.path)
