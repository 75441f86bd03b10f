"""The fleet's driver: starts or joins Ray, places streams on workers, writes every output.

The controller is the only writer of ``DIR/<name>.jsonl`` (frame records as workers report
them, then the summary line) and of ``DIR/fleet.json``. It polls each worker every
``poll_s``: a worker that comes back with a new incarnation (Ray restarted its process) gets
its unfinished streams again as a new epoch, resuming after the last frame written; a worker
that stays unreachable for ``move_after_s`` (its node is gone and Ray cannot place it) has
its streams moved to the other workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..atomic import atomic_file
from ..errors import ConfigError, OutputError
from ..redact import redact
from ..runtime.sources.spec import display_name
from ..runtime.stopsignals import stop_signals_as_interrupt, take_over
from .checks import (absolute_source, check_options, check_out_dir, check_source, epoch_video_clash, output_clash,
                     probe_address, sources_file_clash)
from .cluster import join_ray, ray_shutdown, start_actors, start_ray
from .config import FleetConfig
from .merge import ScorerTally
from .naming import read_sources_file, unique_names
from .remote import remote_cause
from .runner import StreamSpec
from .stream import DriverStream

__all__ = ["FleetConfig", "Fleet", "run_fleet"]


class Fleet:
    """One fleet run. ``start()`` → ``step()`` until ``done`` → ``finish()``; or :func:`run_fleet`."""

    def __init__(self, config: FleetConfig, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.out_dir = Path(config.out_dir)
        printer = log or (lambda line: print(f"rtliveness: {line}", file=sys.stderr, flush=True))
        self.log = lambda line: printer(redact(line))  # a camera URL's password never reaches a log
        self.streams: dict[str, DriverStream] = {}  # by name
        self.by_spec: dict[str, str] = {}  # spec -> name
        self.given: dict[str, str] = {}  # spec (absolute for a file) -> the source as the user first wrote it
        self.workers: list = []
        self.worker_state: list[dict] = []
        self.scorers: list = []
        self.scorer_tally = ScorerTally(0)  # batch statistics across scorer restarts
        self._started_ray = False
        self.owned_signals: tuple = ()  # SIGTERM / SIGHUP that run_fleet turned into KeyboardInterrupt
        self._file_specs: list[str] = []  # the sources file's lines as last acted on
        self._seen: list[str] | None = None  # a read that differs from them: acted on when the next read agrees
        self._read_problem: str | None = None  # why the sources file could not be read (logged once)
        self._deferred: set[str] = set()  # sources added again while their earlier stream still stops
        self._polls: dict[int, object] = {}  # worker -> its poll not answered yet (asked again only once it is)
        self._forget: dict[int, list] = {}  # worker -> (name, epoch) of ended runners it may drop
        self._stopping: set[tuple] = set()  # (worker, name, epoch) told to stop: told once
        self._finishing = False
        self._t0 = time.time()
        self._last_json = 0.0

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        import ray

        # everything a user can get wrong is checked before Ray starts: one line, exit 2 (5: weights);
        # the cluster's address first (a few seconds at most, before the weights load)
        if self.config.address:
            probe_address(self.config.address)
        check_options(self.config)
        problem = sources_file_clash(self.config.sources_file, self.out_dir)
        if problem is not None:
            raise ConfigError(problem)
        specs = list(self.config.sources)
        if self.config.sources_file is not None:
            self._file_specs = self._read_sources_file(strict=True) or []
            specs += self._file_specs
        specs = list(dict.fromkeys(self._absolute(s) for s in specs))
        names = list(unique_names(specs).values())
        for spec in specs:
            problem = self._clash(spec, names)
            if problem is not None:
                raise ConfigError(problem)
        made = not self.out_dir.exists()
        check_out_dir(self.out_dir)
        if not made:
            self._warn_earlier_outputs(specs, names)
        try:
            self._init_ray(ray)
            self._start_actors(ray)
        except BaseException:  # refused by the cluster (or Ctrl+C meanwhile): no empty --out-dir left behind
            # nothing to finish: run_fleet shuts Ray down instead of writing fleet.json in a removed folder
            self.workers, self.worker_state, self.scorers = [], [], []
            if made:
                with contextlib.suppress(OSError):
                    self.out_dir.rmdir()
            raise
        for spec in specs:
            self.add(spec)
        self._write_json()

    def _warn_earlier_outputs(self, specs: list[str], names: list[str]) -> None:
        """One line when ``--out-dir`` holds JSON lines or videos this run will not write (an
        earlier run's): they are kept as they are, and names are not stable across runs."""
        ours = {p.name for n in names for p in self._outputs(n)}
        sources = {os.path.abspath(s) for s in specs}
        try:
            old = sorted(p.name for p in self.out_dir.iterdir() if p.suffix.lower() in (".jsonl", ".mp4")
                         and p.name not in ours and str(p.absolute()) not in sources)
        except OSError:
            return
        if old:
            shown = ", ".join(old[:3]) + (f" and {len(old) - 3} more" if len(old) > 3 else "")
            self.log(f"warning: --out-dir {self.out_dir} already holds {len(old)} output file"
                     f"{'' if len(old) == 1 else 's'} this run will not write ({shown}); they are kept as they are: "
                     "give each run an empty --out-dir to tell them apart")

    def _start_actors(self, ray) -> None:
        """The scorers and the stream workers (:func:`~rtliveness.fleet.cluster.start_actors`)."""
        self.scorers, self.workers, infos = start_actors(ray, self.config)
        self.scorer_tally = ScorerTally(len(self.scorers))
        self.worker_state = [{"incarnation": i["incarnation"], "node": i["node"], "pid": i["pid"], "restarts": 0,
                              "down_since": None} for i in infos]

    def _init_ray(self, ray) -> None:
        """Join ``--address``, or start a Ray of this fleet's own (then shut down by it)."""
        if self.config.address:
            join_ray(ray, self.config.address)
        else:
            self._started_ray = True  # before: an error inside ray.init still shuts down what it started
            start_ray(ray, self.config)
        take_over(self.owned_signals)  # ray.init replaced the SIGTERM handler

    def _absolute(self, spec: str) -> str:
        """The spec the fleet works with (a file's absolute path), remembering how it was written."""
        a = absolute_source(spec)
        self.given.setdefault(a, spec.strip())
        return a

    # ------------------------------------------------------------------ streams
    def add(self, spec: str) -> None:
        if spec in self.by_spec and not self.streams[self.by_spec[spec]].done:
            if self.streams[self.by_spec[spec]].stop_as is not None:
                self._deferred.add(spec)  # added again while it stops: started once it has
            return
        name = unique_names([spec], taken=self.streams)[spec]  # a finished stream's outputs are kept
        # before anything is written: this source must not be an output, nor its outputs a source
        clash = self._clash(spec, [*self.streams, name])
        if clash is None and any(self._clash(s.spec, [name]) for s in self.streams.values()):
            clash = "its outputs would overwrite another source; choose an --out-dir that does not hold the sources"
        try:
            source = display_name(self.given.get(spec, spec))
        except ConfigError:  # a malformed source (camera -1, a URL without a host) fails alone, below
            source = redact(self.given.get(spec, spec))
        stream = DriverStream(spec, name, self.out_dir, write=clash is None, source=source)
        self.streams[name] = stream
        self.by_spec[spec] = name
        problem = clash or check_source(spec)
        if problem is not None:
            stream.ledger.new_epoch()
            stream.ledger.epochs[-1].stopped = "error"
            self._fail(stream, self._as_given(spec, problem))
            return
        self._submit(stream, self._least_loaded())

    def _as_given(self, spec: str, text: str) -> str:
        """A message with a file source named as the user wrote it, not by its absolute path."""
        given = self.given.get(spec, spec)
        return text if given == spec else text.replace(spec, given)

    def _clash(self, spec: str, names: list[str]) -> str | None:
        """Why a file source would be overwritten by the outputs of the streams ``names`` (their
        JSON lines and videos, or with ``--save-video`` a restart's video), or None."""
        return output_clash(spec, [p for n in names for p in self._outputs(n)]) or (
            epoch_video_clash(spec, self.out_dir, names) if self.config.save_video else None)

    def _outputs(self, name: str) -> list[Path]:
        """The files a stream of this name writes (its epoch videos add ``.epochN``, a suffix
        no source name ends with)."""
        return [self.out_dir / f"{name}.jsonl"] + ([self.out_dir / f"{name}.mp4"] if self.config.save_video else [])

    def remove(self, spec: str) -> None:
        self._deferred.discard(spec)
        name = self.by_spec.get(spec)
        if name is None or self.streams[name].done:
            return
        stream = self.streams[name]
        stream.stop_as = "stopped"
        if stream.worker is not None:
            self._stop_runner(stream.worker, name, len(stream.ledger.epochs) - 1)

    def _least_loaded(self, exclude: int | None = None) -> int:
        load = {i: 0 for i, st in enumerate(self.worker_state) if i != exclude and st["down_since"] is None}
        if not load:
            load = {i: 0 for i in range(len(self.workers)) if i != exclude} or {0: 0}
        for s in self.streams.values():
            if not s.done and s.worker in load:
                load[s.worker] += 1
        return min(load, key=lambda i: (load[i], i))

    def _resume(self, stream: DriverStream, worker: int, why: str) -> None:
        """A stream whose worker restarted or was given up on: started again on ``worker`` as a new
        epoch, unless it was being stopped (removed, Ctrl+C) or has written every ``--max-frames``
        frame: then it ends here (started again, it ran for ever)."""
        led = stream.ledger
        if stream.stop_as is not None:
            self._finish(stream, stream.stop_as)
        elif self.config.max_frames is not None and led.written >= self.config.max_frames:
            led.epochs[-1].stopped = "max_frames"
            self._finish(stream, "ended")
        else:
            self.log(f"{led.name}: {why}; resuming after frame {led.last_frame}")
            self._submit(stream, worker)

    def _submit(self, stream: DriverStream, worker: int) -> None:
        led = stream.ledger
        epoch = led.new_epoch()
        if epoch > 0:
            led.restarts += 1
        remaining = None if self.config.max_frames is None else self.config.max_frames - led.written
        video = None
        if self.config.save_video:
            suffix = "" if epoch == 0 else f".epoch{epoch}"
            video = str((self.out_dir / f"{led.name}{suffix}.mp4").resolve())
            stream.videos.append((epoch, video))
        spec = StreamSpec(name=led.name, source=stream.spec, epoch=epoch, start_frame=led.last_frame + 1,
                          start_time=stream.resume_time(), track_offset=led.max_track, max_frames=remaining, video_path=video,
                          give_up_s=self.config.give_up_s)
        stream.worker = worker
        stream.status = "running"
        stream.acked = 0
        stream.add_ref = self.workers[worker].add.remote(spec)

    def _finish(self, s: DriverStream, status: str) -> None:
        """The stream ends with ``status``: its summary line written (a failed write fails it alone)."""
        s.status = status
        try:
            s.finish()
        except OutputError as exc:
            self._fail(s, exc)

    def _fail(self, s: DriverStream, problem: str | Exception) -> None:
        """This stream fails alone with one line (the others carry on): its error in ``fleet.json``,
        its runner stopped, its outputs finalised as far as they can be. An output that cannot be
        written says so in the fleet's words."""
        text = redact(str(problem).replace("choose another --jsonl", "choose another --out-dir"))
        led = s.ledger
        if not led.epochs:
            led.new_epoch()
        led.epochs[-1].error = text
        s.status = "failed"
        self.log(f"error: {led.name}: {text}")
        if s.worker is not None:
            self._stop_runner(s.worker, led.name, len(led.epochs) - 1)
        try:
            s.finish()
        except OutputError:  # its summary line cannot be written either: the file ends on its last whole line
            pass

    def _stop_runner(self, i: int, name: str, epoch: int) -> None:
        if (i, name, epoch) not in self._stopping:
            self._stopping.add((i, name, epoch))
            with contextlib.suppress(Exception):
                self.workers[i].stop.remote(name, epoch)

    # ------------------------------------------------------------------ the loop
    def step(self) -> None:
        """One poll: collect every worker's records, handle restarts and moves, watch the file."""
        import ray

        self._check_adds(ray)
        for i, w in enumerate(self.workers):
            if i not in self._polls:  # a poll not answered yet is waited for, not asked again
                self._polls[i] = w.drain_all.remote(self._acks(i), self._forget.pop(i, []))
        refs = list(self._polls.values())
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=max(2.0, 4 * self.config.poll_s))
        for i, ref in list(self._polls.items()):
            if not ray.wait([ref], timeout=0)[0]:  # slow or unreachable: what it holds comes with its answer
                self._maybe_move(i)
                continue
            del self._polls[i]
            try:
                report = ray.get(ref)
            except ray.exceptions.RayError:
                state = self.worker_state[i]
                if state["down_since"] is None:
                    state["down_since"] = time.monotonic()
                    self.log(f"worker {i} is down (node {state['node'][:12]}); waiting for Ray to restart it")
                self._maybe_move(i)
                continue
            self._apply(i, report)
        if not self._finishing:  # nothing starts once the fleet finishes
            for spec in sorted(self._deferred):  # sources added again once their earlier stream has stopped
                if self.streams[self.by_spec[spec]].done:
                    self._deferred.discard(spec)
                    self.add(spec)
            if self.config.sources_file is not None:
                self._watch_sources_file()
        if time.monotonic() - self._last_json > 1.0:
            self._write_json()

    def _acks(self, i: int) -> dict:
        """What worker ``i`` may drop: ``{name: (epoch, records written)}``."""
        return {n: (len(s.ledger.epochs) - 1, s.acked) for n, s in self.streams.items() if s.worker == i and not s.done}

    def _check_adds(self, ray) -> None:
        """A stream a worker refused to start fails (it showed running, with no records, for ever);
        one whose worker died meanwhile is resumed by the worker's restart."""
        waiting = {s.add_ref: s for s in self.streams.values() if s.add_ref is not None and not s.done}
        if not waiting:
            return
        ready, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=0)
        for ref in ready:
            s = waiting[ref]
            s.add_ref = None
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                self._fail(s, f"worker {s.worker} could not start the stream: {remote_cause(exc)}")
            except ray.exceptions.RayError:
                pass

    def _apply(self, i: int, report: dict) -> None:
        state = self.worker_state[i]
        if report["incarnation"] != state["incarnation"]:  # Ray restarted this worker's process
            state["incarnation"] = report["incarnation"]
            state["restarts"] += 1
            try:
                import ray

                info = ray.get(self.workers[i].info.remote(), timeout=10)
                state["node"], state["pid"] = info["node"], info["pid"]
            except Exception:  # noqa: BLE001
                pass
            state["down_since"] = None
            lost = [s for s in self.streams.values() if s.worker == i and not s.done and s.status == "running"
                    and s.ledger.name not in report["streams"]]
            for s in lost:
                self._resume(s, i, f"worker {i} restarted")
        state["down_since"] = None
        for name, rep in report["streams"].items():
            s = self.streams.get(name)
            if s is None or s.done or s.worker != i or rep["epoch"] != len(s.ledger.epochs) - 1:
                # not this stream's current run here (moved away while this worker was unreachable, or ended)
                if rep["stopped"] is None:
                    self._stop_runner(i, name, rep["epoch"])
                else:
                    self._forget.setdefault(i, []).append((name, rep["epoch"]))
                continue
            try:
                s.write(rep)
            except OutputError as exc:
                self._fail(s, exc)
                continue
            s.ledger.update(rep)
            for e in rep["events"]:
                self.log(f"{name}: stream {e}")
            if rep["stopped"] is not None:
                self._forget.setdefault(i, []).append((name, rep["epoch"]))
                self._ended(s, rep)

    def _ended(self, s: DriverStream, rep: dict) -> None:
        if rep["stopped"] == "error" and s.stop_as is None:
            self._fail(s, self._as_given(s.spec, rep["error"]))
        else:
            self._finish(s, s.stop_as or "ended")

    def _maybe_move(self, i: int) -> None:
        state = self.worker_state[i]
        if state["down_since"] is None:
            state["down_since"] = time.monotonic()
        if time.monotonic() - state["down_since"] < self.config.move_after_s:
            return
        for s in list(self.streams.values()):
            if s.worker == i and not s.done and s.status == "running":
                target = self._least_loaded(exclude=i)
                if target == i:
                    return
                self._resume(s, target, f"worker {i} unreachable for {self.config.move_after_s:g} s; moving to worker {target}")

    def _read_sources_file(self, strict: bool = False) -> list[str] | None:
        """The sources file's lines as the fleet's specs (absolute file paths), or None when it cannot
        be read now (said once per problem; the current sources keep running)."""
        path = Path(self.config.sources_file)
        try:
            specs = [self._absolute(s) for s in read_sources_file(path)]
        except OSError as exc:
            problem = f"cannot read --sources-file {path}: {exc.strerror or exc}; keeping the current sources"
        except ConfigError as exc:  # not UTF-8: at start one line and exit 2, while running keep going
            if strict:
                raise
            problem = f"{exc}; keeping the current sources"
        else:
            self._read_problem = None
            return specs
        if problem != self._read_problem:
            self._read_problem = problem
            self.log(problem)
        return None

    def _watch_sources_file(self) -> None:
        """Read the sources file at every poll; act on a change once two reads in a row agree, so
        a file caught mid-write (empty, half a line) stops nothing."""
        now = self._read_sources_file()
        if now is None or now == self._file_specs:
            self._seen = None
            return
        if now != self._seen:
            self._seen = now
            return
        before, self._file_specs, self._seen = self._file_specs, now, None
        always = {absolute_source(s) for s in self.config.sources}
        for spec in sorted(set(before) - set(now) - always):
            name = self.by_spec.get(spec)
            if name is not None and not self.streams[name].done:
                self.log(f"{name}: removed from the sources file; stopping")
            self.remove(spec)
        for spec in [s for s in now if s not in before]:
            self.log(f"{self.given.get(spec, spec)}: added to the sources file; starting")
            self.add(spec)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.streams.values())

    # ------------------------------------------------------------------ the end
    def finish(self, reason: str = "interrupted", timeout_s: float = 20.0) -> dict:
        """Stop what still runs, collect its last records, write every summary and fleet.json."""
        import ray

        self._finishing = True
        try:
            live = [s for s in self.streams.values() if not s.done]
            for s in live:
                s.stop_as = s.stop_as or reason
            for w in self.workers:
                try:
                    w.stop_all.remote()
                except Exception:  # noqa: BLE001
                    pass
            deadline = time.monotonic() + timeout_s
            while not self.done and time.monotonic() < deadline:
                self.step()
                if not self.done:
                    time.sleep(0.1)
            for s in self.streams.values():
                if not s.done:
                    self._finish(s, s.stop_as or reason)
            return self._write_json(finished=True, stopped=reason)
        finally:
            if self._started_ray:
                ray_shutdown(ray)

    # ------------------------------------------------------------------ fleet.json
    def _write_json(self, finished: bool = False, stopped: str | None = None) -> dict:
        import ray

        self._last_json = time.monotonic()
        if len(self.scorer_tally.current) != len(self.scorers):
            self.scorer_tally = ScorerTally(len(self.scorers))
        scorer = []
        for k, s in enumerate(self.scorers):
            try:
                stats = ray.get(s.stats.remote(), timeout=5)
            except Exception:  # noqa: BLE001
                stats = None
            self.scorer_tally.update(k, stats)
            scorer.append(None if not stats else {"restarts": self.scorer_tally.restarts[k],
                                                  **{key: v for key, v in stats.items() if key != "incarnation"}})
        sources = {}
        for name, s in self.streams.items():
            led = s.ledger
            seconds = led.seconds()
            sources[name] = {
                "source": s.ledger.source,  # as written, as the summary names it
                "status": s.status,
                "frames": led.written,
                "fps": round(led.written / seconds, 3) if seconds > 0 else 0.0,
                "restarts": led.restarts,
                "epoch": max(0, len(led.epochs) - 1),
                "worker": s.worker,
                "error": led.epochs[-1].error if led.epochs else None,
                "jsonl": None if s.jsonl_path is None else str(s.jsonl_path),
                "videos": s.videos_written(),
            }
        doc = {
            "version": __version__,
            "finished": finished,
            "stopped": stopped,  # end (every file ended) | interrupted (Ctrl+C / SIGTERM); None while running
            "seconds": round(time.time() - self._t0, 3),
            "address": self.config.address or "local",
            "workers": [{"index": i, **{k: v for k, v in st.items() if k != "down_since"},
                         "down": st["down_since"] is not None} for i, st in enumerate(self.worker_state)],
            "sources": sources,
            # batching: each scorer's statistics since its last restart (None: it did not answer);
            # batch_sizes: over every scorer, restarts included (a restarted scorer counts from 0)
            "scorer": {"actors": len(self.scorers), "restarts": sum(self.scorer_tally.restarts), "batching": scorer,
                       "batch_sizes": self.scorer_tally.histogram()},
        }
        with atomic_file(self.out_dir / "fleet.json", "w", fsync=False, encoding="utf-8") as fh:
            fh.write(json.dumps(doc, indent=2) + "\n")
        return doc


def run_fleet(config: FleetConfig, log: Callable[[str], None] | None = None) -> dict:
    """Run the fleet until every file source has ended (live sources: until Ctrl+C, SIGTERM or
    SIGHUP); returns what ``fleet.json`` holds."""
    fleet = Fleet(config, log)
    with stop_signals_as_interrupt() as owned:  # as in run; nohup's ignored hang-up stays ignored
        fleet.owned_signals = owned
        reason = "interrupted"
        try:
            fleet.start()
            while not fleet.done:
                t = time.monotonic()
                fleet.step()
                time.sleep(max(0.0, config.poll_s - (time.monotonic() - t)))
            reason = "end"
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            held = _hold_stop_signals(fleet.log, owned)  # a second stop must not cut the summaries short
            try:
                result = fleet.finish(reason) if fleet.workers or fleet.streams else _shutdown(fleet, reason)
            finally:
                for sig, handler in held.items():
                    signal.signal(sig, handler)
    return result


def _hold_stop_signals(log: Callable[[str], None], others: tuple) -> dict:
    """While the fleet finishes (every summary line, ``fleet.json``, Ray's shutdown; bounded by
    ``finish``'s timeout), SIGINT and ``others`` (the stop signals the fleet owns: SIGTERM,
    SIGHUP) are noted, not obeyed: a second Ctrl+C used to lose every output. Main thread only;
    returns the handlers to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    told = []
    defaults = {signal.SIGINT: signal.default_int_handler, **{sig: signal.SIG_DFL for sig in others}}

    def note(_signo, _frame) -> None:
        told.append(True)
        if len(told) == 1:
            log("finishing: writing every summary and fleet.json; this takes a few seconds")
        elif len(told) == 2:  # a way out if finishing hangs (a lost head node): the next signal is obeyed
            log("finishing; one more Ctrl+C or SIGTERM stops at once, without the summaries")
            for sig, handler in defaults.items():
                if sig is not None:
                    signal.signal(sig, handler)

    held = {}
    for sig in defaults:
        if sig is not None:
            held[sig] = signal.signal(sig, note)
    return held


def _shutdown(fleet: Fleet, reason: str) -> dict:
    """The end of a run stopped before any stream started (Ctrl+C or an error during start)."""
    if fleet._started_ray:
        import ray

        ray_shutdown(ray)
    return {"finished": True, "stopped": reason, "sources": {}}
