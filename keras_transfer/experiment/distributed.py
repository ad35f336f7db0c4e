"""The sweep on KerasTuner's distributed mode: one trial per planned net, bases before dependants.

    python -m keras_transfer.sweep --flagfile=flags/tiny.flags --workdir=W --engine=kerastuner

Without KERASTUNER_* variables this process runs KerasTuner's loop by itself. With them (see
docs/distributed.md) the same command is the chief (KERASTUNER_TUNER_ID=chief: serves
`PlanOracle` over KerasTuner's gRPC service) or a worker (any other id: `SweepTuner` pulls trials).
A trial is `runner.run_net(ctx, net)`, so run directories, results.jsonl and TensorBoard output
are the local engine's, and a trial of a finished net is a no-op.

What is done is read from the shared workdir (each run's result.json), never from KerasTuner's
project files (WORKDIR/kerastuner/<tuner id>/, rewritten at each start): a restarted chief or
worker carries on from the run directories. A dependant is handed out once its base's result.json
exists, so the bases run first and the dependants fan out.

Liveness: while a worker trains a net it rewrites WORKDIR/kerastuner/leases/<net>.json. When the
chief sees a lease unchanged for `lease_seconds` (timed by the chief's clock, so machine clocks
need not agree) it gives the net to another worker, which resumes from the net's checkpoint. A
worker that finds its lease taken over stops training (SIGTERM, handled by fit.StopOnSignal).
"""

import os
import time
import traceback
import uuid
from concurrent import futures

import keras_tuner
from keras_tuner.src.distribute import utils as kt_distribute
from keras_tuner.src.engine import trial as kt_trial

from keras_transfer import files
from keras_transfer.experiment import plan, pretrained, rundir, runner, setup
from keras_transfer.experiment.config import net_identity
from keras_transfer.experiment.leases import Lease, LeaseLost, lease_path, read_text
from keras_transfer.training import fit, summaries

IDLE_POLL_SECONDS = 1.0     # a worker waiting for a base asks the chief again after this
SERVE_POLL_SECONDS = 0.5


class PlanOracle(keras_tuner.Oracle):
    """Hands out each planned net once: a net whose base is done, not done itself, not leased.

    `nets`: the plan (parents first); `hashes`: net name -> config hash (net_identity).
    Its one tuned hyperparameter is `net` (a Choice of the plan's names); the trial's values also
    carry kind/source/target/n/fine_tune/seed and the config hash, which workers check.
    """

    def __init__(self, nets, hashes, workdir, lease_seconds=600.0, seed=0):
        space = keras_tuner.HyperParameters()
        space.Choice("net", [n.key for n in nets])
        super().__init__(objective=keras_tuner.Objective("top1", "max"), hyperparameters=space,
                         max_retries_per_trial=1, max_consecutive_failed_trials=len(nets) + 1)
        self.verbose = 0  # KerasTuner's trial tables; the chief prints one line per event
        self.plan = {n.key: n for n in nets}
        self.hashes, self.workdir, self.lease_seconds, self.seed = hashes, workdir, lease_seconds, seed
        self.done, self.failed = set(), set()
        self._leases = {}        # net -> (lease text last seen, chief time it last changed)
        self._seen = {}          # tuner id -> chief time of its last request
        self._expired = set()    # trial ids taken back from workers presumed dead
        self._stopped = False
        # Trial ids restart at 0 when the chief restarts; a late report from a worker of the
        # previous chief may carry an id that now names another net's trial. Trials carry this
        # token, and end_trial ignores other tokens (a colliding update_trial can only skew the
        # logged score: what is done is read from result.json).
        self.token = uuid.uuid4().hex[:12]

    def values(self, name):
        values = {**self.plan[name].hparams(), "net": name, "seed": self.seed,
                  "config_hash": self.hashes[name], "chief": self.token}
        return {k: v for k, v in values.items() if v is not None}  # gRPC has no None

    def is_done(self, name):
        if name not in self.done:
            run_dir = rundir.run_dir_of(self.workdir, name)
            if name not in self.hashes:  # a parent outside the plan: the installed --pretrained
                result = files.read_json(os.path.join(run_dir, rundir.RESULT)) or {}
                finished = result.get("status") == rundir.IMPORTED
            else:
                finished = rundir.finished_result(run_dir, self.hashes[name]) is not None
            if finished:
                self.done.add(name)
        return name in self.done

    def _fresh(self, name, now):
        """Whether some worker may be training `name`: its lease changed within lease_seconds."""
        text = read_text(lease_path(self.workdir, name))
        seen, since = self._leases.get(name, (None, None))
        if since is None and text is None:
            return False
        if since is None or text != seen:
            # First sight (e.g. a restarted chief) counts as a change: maybe a live worker.
            self._leases[name] = (text, now)
            return True
        return now - since < self.lease_seconds

    def _expire(self, now):
        """Takes nets back from workers that stopped heartbeating; forgets silent idle tuners."""
        for tuner_id, trial in list(self.ongoing_trials.items()):
            name = trial.hyperparameters.values["net"]
            if self._fresh(name, now):
                continue
            self.ongoing_trials.pop(tuner_id)
            self.tuner_ids.discard(tuner_id)
            self._expired.add(trial.trial_id)
            trial.status = kt_trial.TrialStatus.FAILED
            print(f"chief: {tuner_id} stopped heartbeating on {name} (trial {trial.trial_id}) "
                  f"for {self.lease_seconds:.0f}s; {name} goes back to the queue", flush=True)
        for tuner_id in list(self.tuner_ids):
            if tuner_id not in self.ongoing_trials and \
                    now - self._seen.get(tuner_id, now) > self.lease_seconds:
                self.tuner_ids.discard(tuner_id)

    def populate_space(self, trial_id):
        now = time.time()
        self._expire(now)
        running = {t.hyperparameters.values["net"] for t in self.ongoing_trials.values()}
        waiting = bool(running)
        for name, net in self.plan.items():
            ready = plan.readiness([net], self.is_done, self.failed)
            if self.is_done(name) or name in self.failed or ready == "blocked":
                continue
            if name in running or self._fresh(name, now) or ready == "waiting":
                waiting = True
                continue
            return {"status": kt_trial.TrialStatus.RUNNING, "values": self.values(name)}
        if waiting:
            return {"status": kt_trial.TrialStatus.IDLE}
        self._stopped = True
        return {"status": kt_trial.TrialStatus.STOPPED}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self._seen[tuner_id] = time.time()
        trial = super().create_trial(tuner_id)
        if trial.status == kt_trial.TrialStatus.RUNNING:
            name = trial.hyperparameters.values["net"]
            # The lease clock starts now, before the worker's first heartbeat.
            self._leases[name] = (read_text(lease_path(self.workdir, name)), time.time())
            print(f"chief: {name} -> {tuner_id} (trial {trial.trial_id})", flush=True)
        return trial

    def _stale(self, trial_id):
        # A trial from before a chief restart, or one taken back from a worker presumed dead.
        return trial_id not in self.trials or trial_id in self._expired

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        if self._stale(trial_id):
            return kt_trial.Trial(self.get_space(), trial_id, kt_trial.TrialStatus.STOPPED)
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def get_trial(self, trial_id):
        if self._stale(trial_id):
            return kt_trial.Trial(self.get_space(), trial_id, kt_trial.TrialStatus.STOPPED)
        return super().get_trial(trial_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        if self._stale(trial.trial_id) or trial.hyperparameters.values.get("chief") != self.token:
            return
        tuner = next((t for t, o in self.ongoing_trials.items()
                      if o.trial_id == trial.trial_id), "?")
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        name = ended.hyperparameters.values["net"]
        if ended.status == kt_trial.TrialStatus.COMPLETED and self.is_done(name):
            print(f"chief: {name} done by {tuner} (top1 {ended.score:.4f}) "
                  f"[{len(self.done)}/{len(self.plan)}]", flush=True)
        elif ended.status == kt_trial.TrialStatus.FAILED:
            self.failed.add(name)
            print(f"chief: {name} FAILED on {tuner} (see that worker's log)", flush=True)
        else:
            print(f"chief: {name} ended {ended.status} on {tuner}; it will be retried", flush=True)

    @keras_tuner.synchronized
    def finished(self):
        """The search is over and every worker has been told so (or is presumed dead)."""
        self._expire(time.time())
        return self._stopped and not self.ongoing_trials and not self.tuner_ids


class SweepTuner(keras_tuner.Tuner):
    """A KerasTuner worker whose trial is one planned net, trained by `runner.run_net`."""

    def __init__(self, oracle, ctx, nets, hashes, lease_seconds, **kwargs):
        super().__init__(oracle, **kwargs)
        self.ctx, self.nets, self.hashes = ctx, {n.key: n for n in nets}, hashes
        self.heartbeat = max(0.5, min(30.0, lease_seconds / 4))
        if kt_distribute.is_chief_oracle():
            return  # the chief only serves its oracle
        create = self.oracle.create_trial  # an OracleClient on a worker

        def create_politely(tuner_id):
            # KerasTuner asks again at once after IDLE (bases still training); don't spin.
            trial = create(tuner_id)
            if trial.status == kt_trial.TrialStatus.IDLE:
                time.sleep(IDLE_POLL_SECONDS)
            return trial

        self.oracle.create_trial = create_politely

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        net = self.nets.get(values.get("net"))
        if net is None or self.hashes[net.key] != values.get("config_hash"):
            raise keras_tuner.errors.FatalError(
                f"{self.tuner_id}: the chief's trial {values} is not a net of this process's plan "
                "(or its config hash differs): start chief and workers with the same flags")
        start = time.time()
        lease = Lease(self.ctx.config.workdir, net.key, self.tuner_id, trial.trial_id,
                      self.heartbeat)
        try:
            with lease:
                row, trained = runner.run_net(self.ctx, net)
        except fit.Interrupted as e:
            if lease.lost:
                raise LeaseLost(f"{net.key}: another worker took over") from e
            # Ctrl-C / SIGTERM by a user: leave the search; the chief re-queues the net when
            # its lease expires, or hands it back to this tuner id when it restarts.
            raise keras_tuner.errors.FatalError(f"{e}") from e
        except Exception:
            traceback.print_exc()  # KerasTuner keeps the message only on the chief's side
            raise
        top1 = row["top1"] if row["top1"] is not None else float("nan")  # None: diverged
        print(f"{self.tuner_id}: {net.key} {'trained' if trained else 'done already'} "
              f"(top1 {top1:.4f}, {row.get('status', 'ok')}) in {time.time() - start:.1f}s",
              flush=True)
        return {"top1": float(top1)}


def serve(oracle):
    """The chief: KerasTuner's gRPC OracleServicer until the search is over."""
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    protos.get_service_grpc().add_OracleServicer_to_server(
        oracle_chief.OracleServicer(oracle), server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise rundir.RunDirError(f"the chief cannot listen on {address}: is another chief running "
                                 "there? Set KERASTUNER_ORACLE_IP/PORT to a free address")
    server.start()
    print(f"chief: serving the oracle on {address}", flush=True)
    try:
        # KerasTuner's own loop re-checks every 20 s once stopped; poll faster.
        while not oracle.finished():
            time.sleep(SERVE_POLL_SECONDS)
    finally:
        server.stop(grace=2)


def as_local_flags(flags_text):
    """flags.txt as the local engine writes it: a run directory does not record the engine, and
    the net trained alone (--nofused, as the workdir's sweep.json records)."""
    return flags_text.replace("--engine=kerastuner\n", "--engine=local\n").replace(
        "--fused\n", "--nofused\n")


def run_sweep(config, lease_seconds=600.0):
    """`--engine=kerastuner`: chief, worker, or both in one process (no KERASTUNER_* variables).

    Returns the results rows on the chief and in one process, None on a worker.
    """
    import dataclasses
    if config.fused:
        print("kerastuner: every net is its own trial, trained alone (--fused does not apply; "
              "the workdir records it, so the local engine resumes it with --nofused)", flush=True)
    config = dataclasses.replace(config, flags_text=as_local_flags(config.flags_text),
                                 fused=False)
    ctx = setup.prepare(config)
    nets = ctx.nets
    hashes = {n.key: net_identity(ctx, n)["hash"] for n in nets}
    distributed = kt_distribute.has_chief_oracle()
    chief = kt_distribute.is_chief_oracle()
    if config.pretrained and (chief or not distributed):
        pretrained.install(ctx)  # the dependants' base; workers read it from the workdir
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    oracle = PlanOracle(nets, hashes, config.workdir, lease_seconds, seed=config.recipe.seed)
    done = [n.key for n in nets if oracle.is_done(n.key)]  # also: hash mismatches fail here
    role = "chief" if chief else (f"worker {tuner_id}" if distributed else "one process")
    print(f"sweep ({role}, kerastuner): {len(nets)} nets, {len(done)} done, in {config.workdir}",
          flush=True)
    if distributed and not chief and len(done) == len(nets):
        return None  # the chief may be gone already; nothing to pull
    if not distributed or chief:
        rundir.sync_results(config.workdir)
        summaries.write_experiment(os.path.join(config.workdir, rundir.RUNS),
                                   [runner.planned_row(config, net) for net in nets])
    tuner = SweepTuner(oracle, ctx, nets, hashes, lease_seconds,
                       directory=os.path.join(config.workdir, "kerastuner"),
                       project_name=tuner_id, overwrite=True)
    if chief:
        if len(done) < len(nets):
            serve(oracle)
    else:
        try:
            tuner.search()
        except keras_tuner.errors.FatalError as e:
            raise rundir.RunDirError(str(e)) from e
        if distributed:
            return None
    return finish(oracle, config.workdir, nets)


def finish(oracle, workdir, nets):
    """Rows of the finished sweep, or a clear error naming the nets that failed."""
    rundir.sync_results(workdir)
    missing = [n.key for n in nets if not oracle.is_done(n.key)]
    if missing:
        raise rundir.RunDirError(
            f"{len(missing)} nets did not finish: {', '.join(missing)} (failed: "
            f"{', '.join(sorted(oracle.failed)) or 'none'}; see the workers' logs). Rerun the same "
            "commands to retry them; finished nets are kept.")
    rows = [files.read_json(os.path.join(rundir.run_dir_of(workdir, n.key), "result.json"))
            for n in nets]
    print(f"sweep: all {len(nets)} nets done in {workdir}", flush=True)
    return rows
