"""A chaos run from start to verdict: servers, hosts, processes, load, faults, checks.

Phases: set up (leftovers of killed runs removed first); load and faults together for
``seconds`` (collections submitted over the first 60 %); quiesce (links healed, every
server and process running again) and wait until every collection is terminal; check.
Exit 0 when every invariant holds, 1 (printing the seed) when one does not, 2 when the run
could not be set up. Logs of a failed run are copied to ``chaos-failure-SEED/``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from chaos import checker, faults, load, observer
from chaos.cleanup import Cleanup, remove_leftovers
from chaos.cluster import Postgres, Redis, wait_until
from chaos.hosts import Host
from chaos.naming import PREFIX, HostNames
from chaos.topology import FILEINTEL, Process, build, environment

log = logging.getLogger("chaos")

#: After the faults, how long every collection has to end (invariant L's horizon).
SETTLE_SECONDS = 300.0
#: Share of the run over which collections are submitted, in waves of ``WAVE`` collections:
#: documents are in flight (a fault can hit them mid-document) for a while after each wave.
LOAD_SHARE = 0.9
WAVE = 2
#: Before a fault, how long the injector waits for documents in flight.
WORK_WAIT_SECONDS = 10.0


@dataclass
class Options:
    seed: int
    seconds: float
    collections: int
    documents: int
    hosts: int


def missing_prerequisite() -> str | None:
    """Why this machine cannot run the suite, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, e.g. in CI)"
    for tool in ("ip", "tc", "initdb", "pg_ctl", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


class Run:
    """One run; ``main`` returns its exit code."""

    def __init__(self, options: Options):
        self.o = options
        self.rng = random.Random(options.seed)
        self.cleanup = Cleanup()
        self.workdir = Path(f"/tmp/{PREFIX}-{os.getpid()}")
        self.t0 = dt.datetime.now(dt.UTC)
        self.fault_log: list[faults.Fault] = []
        self.collections: list[str] = []
        self.last_submitted = self.t0
        self.restarted_by_supervisor = 0

    def say(self, message: str) -> None:
        elapsed = (dt.datetime.now(dt.UTC) - self.t0).total_seconds()
        print(f"[{elapsed:7.1f}] {message}", flush=True)

    def set_up(self) -> None:
        for what in remove_leftovers():
            self.say(f"removed a leftover {what}")
        self.cleanup.install_handlers()
        self.workdir.mkdir()
        self.cleanup.add("run folder", lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        self.hosts = [Host(HostNames(os.getpid(), n)) for n in range(1, self.o.hosts + 1)]
        for host in self.hosts:
            self.cleanup.add(f"host {host.names.namespace}", host.destroy)
            host.create()
        addresses = [h.names.server_address for h in self.hosts]
        self.postgres = Postgres(self.workdir, addresses)
        self.cleanup.add("postgres", self.postgres.stop)
        self.postgres.init()
        self.broker = Redis(self.workdir, "broker-redis", addresses, durable=False)
        self.events = Redis(self.workdir, "events-redis", addresses, durable=True)
        for server in (self.broker, self.events):
            self.cleanup.add(server.name, server.kill)
            server.start()
        self.engine: Engine = create_engine(self.postgres.url(), pool_pre_ping=True)
        self.cleanup.add("engine", self.engine.dispose)
        self.cli_env = environment(
            self.workdir, self.postgres.url(), self.broker.url(), self.events.url()
        )
        subprocess.run(
            [FILEINTEL, "db", "upgrade"], env=self.cli_env, check=True, capture_output=True
        )
        pg = f"postgresql+psycopg2://postgres@{{host}}:{self.postgres.port}/chaos"
        self.processes: list[Process] = build(
            self.workdir,
            self.hosts,
            pg,
            f"redis://{{host}}:{self.broker.port}/0",
            f"redis://{{host}}:{self.events.port}/0",
        )
        for p in self.processes:
            self.cleanup.add(p.name, p.kill)
            p.start()
        self.pool = load.make_pool(self.workdir / "pool", self.rng)
        self.expected = load.clean_outcomes(self.pool)

    def submit_load(self, stop: threading.Event) -> None:
        """Submit the collections evenly over the load share of the run."""
        waves = max(1, self.o.collections // WAVE)
        pause = self.o.seconds * LOAD_SHARE / waves
        rng = random.Random(self.o.seed + 1)
        for i in range(self.o.collections):
            name = f"c{i:04d}"
            folder = load.collection_files(
                self.workdir / "files" / name, self.pool, self.o.documents, rng
            )
            self.collections.append(load.submit(self.engine, name, folder))
            self.last_submitted = dt.datetime.now(dt.UTC)
            if (i + 1) % WAVE == 0 and stop.wait(pause):
                return

    def inject(self, until: float) -> None:
        targets = faults.Targets(
            self.engine,
            self.postgres,
            self.broker,
            self.events,
            self.hosts,
            self.processes,
            self.postgres.url(),
            self.collections,
            self.rng,
            self.cli_env,
        )
        kinds = faults.schedule(self.rng)
        # A short run still gets every kind once: the first round always completes.
        while time.monotonic() < until or len(self.fault_log) < len(faults.KINDS):
            kind = next(kinds)
            if kind == "slow_link":  # earlier faults' leases settle: any expiry now is false
                time.sleep(faults.QUIET_BEFORE_SLOW)
            self.wait_for_work(WORK_WAIT_SECONDS)
            watch = self.watcher.snapshot(len(self.fault_log), kind)
            fault = faults.KINDS[kind](targets)
            watch.ended = fault.ended
            self.fault_log.append(fault)
            self.say(fault.line(self.t0))
            self.supervise()
            time.sleep(self.rng.uniform(0.5, 2.0))

    def wait_for_work(self, timeout: float) -> None:
        """Wait (bounded) until documents are in flight, so that the fault hits some."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.engine.connect() as conn:
                    if conn.execute(observer.IN_FLIGHT).first() is not None:
                        return
            except Exception:
                self.engine.dispose()
            time.sleep(0.2)

    def supervise(self) -> None:
        """Start again what exited by itself, as a process supervisor would (a process
        that starts while its host is cut off cannot reach the database, and exits 1)."""
        for p in self.processes:
            if not p.running():
                code = p.proc.returncode if p.proc else None
                self.say(f"{p.name} exited by itself (exit {code}); started again")
                self.restarted_by_supervisor += 1
                p.start()

    def quiesce(self) -> None:
        """Heal every link; start every server and process that is down."""
        for host in self.hosts:
            host.unslow()
            if host.cut_now:
                host.heal()
        for server in (self.broker, self.events):
            if not server.running():
                server.start()
        for p in self.processes:
            if not p.running():
                self.say(f"{p.name} had stopped (exit {p.proc.returncode if p.proc else '-'})")
                p.start()

    def all_terminal(self) -> bool:
        with self.engine.connect() as conn:
            open_ = conn.execute(
                text(
                    "SELECT count(*) FROM collections WHERE status NOT IN "
                    "('completed', 'completed_with_errors', 'failed', 'cancelled')"
                )
            ).scalar_one()
        return open_ == 0 and len(self.collections) == self.o.collections

    def main(self) -> int:
        self.say(
            f"chaos seed {self.o.seed}: {self.o.seconds:.0f} s, {self.o.collections} "
            f"collections x {self.o.documents} documents, {self.o.hosts} hosts"
        )
        try:
            self.set_up()
        except Exception as e:
            print(f"chaos: could not set up the run: {e}", file=sys.stderr)
            self.cleanup.run()
            return 2
        self.say(
            f"servers, {len(self.hosts)} hosts and {len(self.processes)} processes up; "
            f"folder {self.workdir}"
        )
        consumer = observer.EventsConsumer(self.events.url())
        consumer.start()
        self.watcher = observer.RecoveryWatcher(self.engine)
        self.watcher.start()
        stop = threading.Event()
        submitter = threading.Thread(target=self.submit_load, args=(stop,), daemon=True)
        submitter.start()
        self.inject(time.monotonic() + self.o.seconds)
        self.quiesce()
        last_fault_end = max((f.ended or f.started for f in self.fault_log), default=self.t0)
        submitter.join()
        self.say("faults over; waiting for every collection to end")
        try:
            wait_until(self.all_terminal, SETTLE_SECONDS, "every collection to end")
        except RuntimeError as e:
            self.say(str(e))
        with self.engine.connect() as conn:
            committed = set(
                conn.execute(
                    text("SELECT payload->>'event_id' FROM outbox WHERE kind = 'event'")
                ).scalars()
            )
        observer.wait_caught_up(consumer, committed, 60.0)
        try:
            wait_until(
                lambda: all(w.recovered for w in self.watcher.watches if w.ended),
                30.0,
                "the recovery watches",
            )
        except RuntimeError as e:  # shown as "not through" in the recovery table
            self.say(str(e))
        consumer.stop.set()
        self.watcher.stop.set()
        try:
            return self.verdict(consumer, last_fault_end)
        except Exception:
            self.keep_logs()
            raise

    def keep_logs(self) -> Path:
        """Copy the run's logs (not its data) to ``chaos-failure-SEED/``."""
        keep = Path.cwd() / f"chaos-failure-{self.o.seed}"
        ignore = shutil.ignore_patterns("pg", "pool", "files", "*-redis")
        shutil.copytree(self.workdir, keep, ignore=ignore, dirs_exist_ok=True)
        return keep

    def verdict(self, consumer: observer.EventsConsumer, last_fault_end: dt.datetime) -> int:
        logs = [self.workdir / f"{p.name}.log" for p in self.processes if p.kind == "worker"]
        verdicts = [
            checker.check_l(self.engine, last_fault_end),
            checker.check_h(self.engine),
            checker.check_o(self.engine, consumer.seen, consumer.order),
            checker.check_f(self.engine, logs),
            checker.check_i(self.engine, self.expected),
        ]
        verdicts[3].violations += [p for f in self.fault_log for p in f.problems]
        verdicts[3].violations += checker.check_healed_hosts(
            self.fault_log, self.workdir, self.last_submitted
        )
        verdicts[0].violations += checker.check_slow_links(self.engine, self.fault_log)
        if len(self.collections) < self.o.collections:  # the load itself failed: no pass
            verdicts[0].violations.append(
                f"only {len(self.collections)} of {self.o.collections} collections were "
                "submitted (see the load's error above)"
            )
        print("\nfaults (seconds from the start):")
        print(f"{'start':>7} {'end':>7}  {'kind':<19} {'target':<14} detail")
        for fault in self.fault_log:
            print(fault.line(self.t0))
        kinds = checker.fault_counts([f.kind for f in self.fault_log])
        print(f"\n{len(self.fault_log)} faults: {kinds}")
        print(
            "\nrecovery (fault's end to every document it held up through; target 30 s "
            "+ processing):"
        )
        print("\n".join(checker.recovery_table(observer.as_rows(self.watcher.watches))))
        print(f"\ninvariants over {len(self.collections)} collections:")
        print("\n".join(checker.table(verdicts)))
        failed = any(v.violations for v in verdicts)
        print(f"processes that exited by themselves, started again: {self.restarted_by_supervisor}")
        if failed:
            keep = self.keep_logs()
            print(
                f"\nFAILED with seed {self.o.seed} (logs in {keep}); rerun: "
                f'make chaos ARGS="--seed {self.o.seed} --seconds {self.o.seconds:.0f}"'
            )
        else:
            print(f"\npassed: seed {self.o.seed}, 0 violations")
        for p in self.processes:
            p.terminate(grace=10.0)
        self.cleanup.run()
        return 1 if failed else 0
