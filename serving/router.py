"""The traffic router: which model version answers a request, and what the shadow sees of it.

Defines `Router`, the in-process core of the prediction service (`serving.app` puts HTTP in front of it; the
lifecycle simulation and the tests call it directly), with `Prediction`, `PredictionRequest`, `RouterStatus` and the
errors `NoChampionError` and `ScoringError`.

- Roles come from a `roles_source` (in production `serving.roles.read_roles` over the MLflow registry) and versions
  are loaded through a `loader` (in production `Scorer.from_booster` over `MlflowResource.load_booster`).
  `refresh()` re-reads the roles and loads only versions it has not loaded; a version that fails to load leaves the
  role's previous version serving and sends a P2 alert. The champion is never dropped once it has been loaded.
- `predict()` sends the request to the canary (by the stable unit hash, or a seeded draw without a unit id, see
  `serving.roles.assign`) or to the champion, scores it with that version's `Scorer`, and logs it.
- A sampled share of requests (`shadow_sample_rate`, by a hash of the request id) is also scored by the shadow
  version on a small pool of daemon worker threads behind a bounded queue: the response never waits for it, and a
  shadow that raises, hangs or failed to load only produces a logged shadow row with the error. A watchdog logs a
  shadow that overruns its timeout as soon as the timeout passes, even if the call never returns.
- Every served prediction and every shadow outcome goes to the `PredictionLogWriter` exactly once.

The routing state is one immutable snapshot swapped in by `refresh()`, so a request never mixes two generations of
roles and reading it needs no lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource
from serving.prediction_log import PredictionLogWriter
from serving.roles import ROLE_CANARY, ROLE_CHAMPION, ROLE_SHADOW, ModelHandle, Roles, assign, unit_bucket
from serving.scoring import Scorer

__all__ = [
    "NoChampionError",
    "Prediction",
    "PredictionRequest",
    "Router",
    "RouterStatus",
    "ScoringError",
]

_LOGGER = logging.getLogger(__name__)

SHADOW_QUEUE_FULL = "shadow queue full"
_SHUTDOWN_GRACE_SECONDS = 0.5  # beyond the shadow timeout, how long close() waits for shadow jobs in flight


class NoChampionError(RuntimeError):
    """No champion version is loaded, so no request can be answered."""


class ScoringError(RuntimeError):
    """The version a request was routed to failed to score it (the failure is logged)."""

    def __init__(self, request_id: str, model_version: str, role: str, error: str) -> None:
        super().__init__(f"request {request_id}: {role} version {model_version} failed to score: {error}")
        self.request_id = request_id
        self.model_version = model_version
        self.role = role
        self.error = error


@dataclass(frozen=True)
class Prediction:
    """The answer to one request. `score` is None and `error` says why when scoring failed (batch only: a single
    `predict` raises `ScoringError` instead)."""

    request_id: str
    score: float | None
    model_version: str
    role: str
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class PredictionRequest:
    """One request for `Router.predict_batch`."""

    request_id: str
    features: Mapping[str, Any]
    unit_id: str | None = None
    event_time: dt.datetime | None = None


@dataclass(frozen=True)
class RouterStatus:
    """What is serving, for readiness checks and operators."""

    ready: bool
    reason: str
    champion: str | None
    canary: str | None
    shadow: str | None
    roles: Roles | None


@dataclass(frozen=True)
class _State:
    """One generation of routing state; replaced whole by `refresh()`."""

    roles: Roles | None = None
    champion: ModelHandle | None = None
    canary: ModelHandle | None = None
    shadow: ModelHandle | None = None
    # (version, error) of a shadow version that could not be loaded while no earlier shadow serves: sampled
    # requests are then logged as failed shadow rows, so the failure shows in the shadow's evidence.
    shadow_failure: tuple[str, str] | None = None
    problems: tuple[str, ...] = ()


@dataclass(eq=False)
class _ShadowJob:
    """One shadow scoring; whoever claims it first (the worker, the watchdog or close()) logs its outcome."""

    request_id: str
    unit_id: str | None
    event_time: dt.datetime
    features: Mapping[str, Any]
    handle: ModelHandle
    started: float = 0.0
    deadline: float = 0.0
    _claim: threading.Lock = field(default_factory=threading.Lock)

    def claim(self) -> bool:
        return self._claim.acquire(blocking=False)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Router:
    """Routes requests between champion and canary, shadows a sample, and logs every outcome.

    `loader(version)` returns a `Scorer` for a registry version; `roles_source()` returns the current `Roles`.
    `shadow_timeout_ms` defaults to the spec's `deployment.shadow.timeout_ms`. `seed` seeds the draw that splits
    requests without a unit id. Thread-safe: any number of threads may call `predict` concurrently.
    """

    def __init__(
        self,
        spec: ModelSpec,
        loader: Callable[[str], Scorer],
        roles_source: Callable[[], Roles],
        log: PredictionLogWriter,
        alerts: AlertingResource | None = None,
        shadow_timeout_ms: float | None = None,
        seed: int = 0,
        *,
        shadow_workers: int = 2,
        shadow_queue_size: int = 64,
    ) -> None:
        if shadow_workers < 1 or shadow_queue_size < 1:
            raise ValueError("shadow_workers and shadow_queue_size must be at least 1")
        self.spec = spec
        self.model = spec.name
        self._loader = loader
        self._roles_source = roles_source
        self._log = log
        self._alerts = alerts
        timeout_ms = spec.deployment.shadow.timeout_ms if shadow_timeout_ms is None else shadow_timeout_ms
        if timeout_ms <= 0:
            raise ValueError(f"shadow_timeout_ms must be positive, got {timeout_ms}")
        self.shadow_timeout_ms = float(timeout_ms)
        self._rng = random.Random(seed)
        self._state = _State(problems=("roles have not been read from the registry yet",))
        self._refresh_lock = threading.Lock()
        # (role, version) pairs already alerted as failing, so a broken version alerts once, not every refresh.
        self._alerted: set[tuple[str, str]] = set()
        self._refresh_stop = threading.Event()
        self._refresh_thread: threading.Thread | None = None
        self._closed = False
        # Shadow machinery, started on the first shadow job so a router without a shadow runs no extra threads.
        self._shadow_workers = shadow_workers
        # A SimpleQueue (C, half the cost of queue.Queue's put on the request path) bounded by checking its size
        # before a put; concurrent requests can overshoot the bound by at most one job each.
        self._shadow_queue: queue.SimpleQueue[_ShadowJob | None] = queue.SimpleQueue()
        self._shadow_queue_size = shadow_queue_size
        self._shadow_threads: list[threading.Thread] = []
        self._shadow_start_lock = threading.Lock()
        self._watch = threading.Condition()
        self._running: set[_ShadowJob] = set()  # shadow jobs being scored, guarded by _watch
        self._watchdog_idle = True  # the watchdog waits without a deadline; guarded by _watch
        # Shadow jobs created and shadow jobs logged, so `settle` knows when every outcome is in the log.
        self._shadow_counts = [0, 0]
        self._shadow_counts_lock = threading.Lock()

    # ---------------------------------------------------------------------------------------------- roles

    def refresh(self) -> None:
        """Re-read the roles and load the versions not loaded yet; never raises (failures alert and keep the
        previous state)."""
        with self._refresh_lock:
            current = self._state
            try:
                roles = self._roles_source()
            except Exception as error:
                message = f"cannot read the roles of {self.model} from the registry: {_describe(error)}"
                self._alert_once("roles", "registry", message, {"error": _describe(error)})
                # Keep serving what is loaded; readiness reports why the roles may be stale.
                self._state = dataclasses.replace(current, problems=(message,))
                return
            self._alerted.discard(("roles", "registry"))
            loaded: dict[str, Scorer] = {
                handle.version: handle.scorer
                for handle in (current.champion, current.canary, current.shadow)
                if handle is not None
            }
            failed: dict[str, str] = {}
            handles: dict[str, ModelHandle | None] = {}
            problems: list[str] = []
            shadow_failure: tuple[str, str] | None = None
            for role, version in (
                (ROLE_CHAMPION, roles.champion),
                (ROLE_CANARY, roles.canary),
                (ROLE_SHADOW, roles.shadow),
            ):
                previous: ModelHandle | None = getattr(current, role)
                if version is None:
                    # The champion is never dropped: a missing alias is more likely a half-done transition than
                    # an order to stop serving. A removed canary or shadow alias is a rollback, and takes effect.
                    handles[role] = previous if role == ROLE_CHAMPION else None
                    if role == ROLE_CHAMPION:
                        problems.append(f"registered model {self.model} has no {ROLE_CHAMPION} alias")
                    continue
                scorer = loaded.get(version)
                if scorer is None and version not in failed:
                    try:
                        scorer = self._loader(version)
                    except Exception as error:
                        failed[version] = _describe(error)
                    else:
                        loaded[version] = scorer
                if scorer is None:
                    error_text = failed[version]
                    handles[role] = previous
                    kept = f"version {previous.version} keeps serving" if previous else f"no {role} is serving"
                    problems.append(f"{role} version {version} failed to load ({error_text}); {kept}")
                    if role == ROLE_SHADOW and previous is None:
                        shadow_failure = (version, error_text)
                    self._alert_once(
                        role,
                        version,
                        f"{self.model} {role} version {version} failed to load; {kept}",
                        {
                            "role": role,
                            "version": version,
                            "error": error_text,
                            "kept_version": previous.version if previous else None,
                        },
                    )
                    continue
                self._alerted.discard((role, version))
                handles[role] = ModelHandle(version=version, role=role, scorer=scorer)
            self._state = _State(
                roles=roles,
                champion=handles[ROLE_CHAMPION],
                canary=handles[ROLE_CANARY],
                shadow=handles[ROLE_SHADOW],
                shadow_failure=shadow_failure,
                problems=tuple(problems),
            )

    def _alert_once(self, role: str, version: str, title: str, details: dict[str, Any]) -> None:
        key = (role, version)
        if key in self._alerted:
            return
        self._alerted.add(key)
        _LOGGER.error(title)
        if self._alerts is None:
            return
        try:
            self._alerts.send(severity="P2", model=self.model, title=title, details=details)
        except Exception:  # a broken alert channel must not stop the refresh
            _LOGGER.exception("could not send the alert %r", title)

    def start_refreshing(self, interval_seconds: float) -> None:
        """Refresh every `interval_seconds` on a background thread (refreshing first if never refreshed)."""
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
        if self._closed:
            raise RuntimeError("the router is closed")
        if self._refresh_thread is not None and self._refresh_thread.is_alive():
            return
        self._refresh_stop.clear()

        def loop() -> None:
            if self._state.roles is None:
                self.refresh()
            while not self._refresh_stop.wait(interval_seconds):
                self.refresh()

        self._refresh_thread = threading.Thread(target=loop, name=f"router-refresh-{self.model}", daemon=True)
        self._refresh_thread.start()

    def stop(self) -> None:
        """Stop the refresh thread (the router keeps serving its current roles)."""
        self._refresh_stop.set()
        thread = self._refresh_thread
        if thread is not None:
            thread.join()
        self._refresh_thread = None

    def status(self) -> RouterStatus:
        state = self._state
        if state.champion is None:
            reason = "; ".join(state.problems) or "no champion is loaded"
        else:
            reason = f"champion version {state.champion.version} is serving"
            if state.problems:
                reason += " (" + "; ".join(state.problems) + ")"
        return RouterStatus(
            ready=state.champion is not None,
            reason=reason,
            champion=state.champion.version if state.champion else None,
            canary=state.canary.version if state.canary else None,
            shadow=state.shadow.version if state.shadow else None,
            roles=state.roles,
        )

    @property
    def log(self) -> PredictionLogWriter:
        return self._log

    # ------------------------------------------------------------------------------------------- requests

    def predict(
        self,
        request_id: str,
        features: Mapping[str, Any],
        unit_id: str | None = None,
        event_time: dt.datetime | None = None,
    ) -> Prediction:
        """Score one request with the version it routes to; raises `NoChampionError` when nothing can serve and
        `ScoringError` when the version fails to score (both after logging what can be logged)."""
        prediction = self._predict(request_id, features, unit_id, event_time)
        if prediction.error is not None:
            raise ScoringError(request_id, prediction.model_version, prediction.role, prediction.error)
        return prediction

    def predict_batch(self, requests: Sequence[PredictionRequest | Mapping[str, Any]]) -> list[Prediction]:
        """Score several requests; one that fails to score comes back with `score=None` and `error` set instead of
        failing the others. Raises `NoChampionError` before scoring anything when no champion is loaded."""
        if self._state.champion is None:
            raise NoChampionError(self.status().reason)
        results = []
        for request in requests:
            if isinstance(request, PredictionRequest):
                results.append(self._predict(request.request_id, request.features, request.unit_id, request.event_time))
            else:
                results.append(
                    self._predict(
                        request["request_id"], request["features"], request.get("unit_id"), request.get("event_time")
                    )
                )
        return results

    def _predict(
        self,
        request_id: str,
        features: Mapping[str, Any],
        unit_id: str | None,
        event_time: dt.datetime | None,
    ) -> Prediction:
        started = time.perf_counter()
        state = self._state  # one snapshot for the whole request
        champion = state.champion
        if champion is None or state.roles is None:
            raise NoChampionError(f"{self.model}: no champion is loaded ({'; '.join(state.problems) or 'no roles'})")
        roles = state.roles
        handle = champion
        if state.canary is not None and assign(unit_id, roles, self._rng) == ROLE_CANARY:
            handle = state.canary
        if event_time is None:
            event_time = _utc_now()
        score: float | None
        error: str | None = None
        try:
            score = handle.scorer.score_row(features)
        except Exception as exc:
            score = None
            error = _describe(exc)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._log.log(
            {
                "request_id": request_id,
                "unit_id": unit_id,
                "event_time": event_time,
                "model_name": self.model,
                "model_version": handle.version,
                "role": handle.role,
                "served": True,
                "features": features,
                "score": score,
                "latency_ms": latency_ms,
                "error": error,
            }
        )
        # After the answer is scored and logged: the shadow costs the request path one hash and one queue put.
        rate = roles.shadow_sample_rate
        if (
            (state.shadow is not None or state.shadow_failure is not None)
            and rate > 0.0
            and (rate >= 1.0 or unit_bucket(request_id, f"shadow:{roles.ab_salt}") < rate * 100.0)
        ):
            self._shadow(state, request_id, unit_id, event_time, features)
        return Prediction(
            request_id=request_id,
            score=score,
            model_version=handle.version,
            role=handle.role,
            latency_ms=latency_ms,
            error=error,
        )

    # --------------------------------------------------------------------------------------------- shadow

    def _log_shadow(
        self,
        request_id: str,
        unit_id: str | None,
        event_time: dt.datetime,
        features: Mapping[str, Any],
        version: str,
        score: float | None,
        latency_ms: float | None,
        error: str | None,
    ) -> None:
        self._log.log(
            {
                "request_id": request_id,
                "unit_id": unit_id,
                "event_time": event_time,
                "model_name": self.model,
                "model_version": version,
                "role": ROLE_SHADOW,
                "served": False,
                "features": features,
                "score": score,
                "latency_ms": latency_ms,
                "error": error,
            }
        )

    def _log_job(self, job: _ShadowJob, score: float | None, latency_ms: float | None, error: str | None) -> None:
        self._log_shadow(
            job.request_id, job.unit_id, job.event_time, job.features, job.handle.version, score, latency_ms, error
        )
        with self._shadow_counts_lock:
            self._shadow_counts[1] += 1

    def _shadow(
        self,
        state: _State,
        request_id: str,
        unit_id: str | None,
        event_time: dt.datetime,
        features: Mapping[str, Any],
    ) -> None:
        if state.shadow is None:
            assert state.shadow_failure is not None
            version, error = state.shadow_failure
            self._log_shadow(
                request_id,
                unit_id,
                event_time,
                features,
                version,
                None,
                None,
                f"shadow version failed to load: {error}",
            )
            return
        if self._closed:
            self._log_shadow(
                request_id, unit_id, event_time, features, state.shadow.version, None, None, "router closed"
            )
            return
        if not self._shadow_threads:
            self._start_shadow_threads()
        job = _ShadowJob(request_id, unit_id, event_time, features, state.shadow)
        with self._shadow_counts_lock:
            self._shadow_counts[0] += 1
        if self._shadow_queue.qsize() >= self._shadow_queue_size:
            # The workers are all busy (or hung) and the backlog is at its bound: drop rather than grow.
            job.claim()
            self._log_job(job, None, None, SHADOW_QUEUE_FULL)
            return
        self._shadow_queue.put(job)

    def _start_shadow_threads(self) -> None:
        with self._shadow_start_lock:
            if self._shadow_threads:
                return
            # Daemon threads rather than a ThreadPoolExecutor: the executor's workers are joined at interpreter
            # exit, so one hung shadow call would keep the process from ever exiting on SIGTERM.
            threads = [
                threading.Thread(target=self._shadow_worker, name=f"shadow-{self.model}-{index}", daemon=True)
                for index in range(self._shadow_workers)
            ]
            threads.append(threading.Thread(target=self._watchdog, name=f"shadow-watchdog-{self.model}", daemon=True))
            for thread in threads:
                thread.start()
            self._shadow_threads = threads

    def _shadow_worker(self) -> None:
        timeout_ms = self.shadow_timeout_ms
        while True:
            job = self._shadow_queue.get()
            if job is None:
                return
            if self._closed:
                if job.claim():
                    self._log_job(job, None, None, "router closed before the shadow ran")
                continue
            job.started = time.perf_counter()
            job.deadline = job.started + timeout_ms / 1000.0
            with self._watch:
                self._running.add(job)
                if self._watchdog_idle:
                    self._watch.notify()
            score: float | None = None
            error: str | None = None
            try:
                score = job.handle.scorer.score_row(job.features)
            except Exception as exc:
                error = _describe(exc)
            latency_ms = (time.perf_counter() - job.started) * 1000.0
            with self._watch:
                self._running.discard(job)
            if latency_ms > timeout_ms and error is None:
                score, error = None, f"shadow timed out: {latency_ms:.1f} ms > {timeout_ms:g} ms"
            if job.claim():
                self._log_job(job, score, latency_ms, error)

    def _watchdog(self) -> None:
        """Logs a shadow job as timed out when its deadline passes, whether or not the call ever returns."""
        timeout_ms = self.shadow_timeout_ms
        with self._watch:
            while not self._closed:
                now = time.perf_counter()
                expired = [job for job in self._running if job.deadline <= now]
                for job in expired:
                    self._running.discard(job)
                    if job.claim():
                        self._log_job(
                            job,
                            None,
                            (now - job.started) * 1000.0,
                            f"shadow timed out: no score within {timeout_ms:g} ms",
                        )
                upcoming = min((job.deadline for job in self._running), default=None)
                # Deadlines only grow (start + a fixed timeout), so a new job never needs an earlier wake-up than
                # the one planned; workers notify only an idle watchdog.
                self._watchdog_idle = upcoming is None
                self._watch.wait(None if upcoming is None else max(upcoming - now, 0.0))

    def settle(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until every queued shadow job has been scored or timed out (and so logged); False on timeout.

        For callers that replay traffic and must read the log right after (the simulation): a live service never
        waits for its shadow."""
        deadline = time.perf_counter() + timeout_seconds
        while True:
            with self._shadow_counts_lock:
                created, logged = self._shadow_counts
            if logged >= created:
                return True
            if time.perf_counter() >= deadline:
                return False
            time.sleep(0.0005)

    # ------------------------------------------------------------------------------------------- shutdown

    def close(self) -> None:
        """Stop refreshing, settle the shadow jobs (waiting up to the shadow timeout for those in flight, logging
        the rest as unfinished) and flush the prediction log. Idempotent."""
        if self._closed:
            return
        self.stop()
        if self._shadow_threads:
            deadline = time.perf_counter() + self.shadow_timeout_ms / 1000.0 + _SHUTDOWN_GRACE_SECONDS
            while time.perf_counter() < deadline:
                with self._watch:
                    busy = bool(self._running)
                if not busy and self._shadow_queue.empty():
                    break
                time.sleep(0.01)
        self._closed = True
        if self._shadow_threads:
            # Jobs still queued never started: log them as not run.
            while True:
                try:
                    job = self._shadow_queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None and job.claim():
                    self._log_job(job, None, None, "router closed before the shadow ran")
            with self._watch:
                running = list(self._running)
                self._running.clear()
                self._watch.notify_all()
            for job in running:
                if job.claim():
                    self._log_job(job, None, None, "shadow did not finish before shutdown")
            for _ in range(self._shadow_workers):
                self._shadow_queue.put(None)  # a hung worker never reads it; it is a daemon thread
        self._log.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
