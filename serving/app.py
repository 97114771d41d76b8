"""The HTTP face of the prediction service: a FastAPI app around one `serving.router.Router`.

Defines `create_app(spec, router, refresh_seconds)`, which `serving.server.build_service` calls with the real
registry-backed router (and the tests with theirs). Endpoints:

- `POST /predict`: one request, validated against the spec's feature contract (`serving.contract`); a 422 names
  every bad field (`loc` ends in the feature's name). 503 when no champion is loaded, 500 (JSON) when the model
  fails to score; the router has logged the request either way.
- `POST /predict/batch`: a list of requests, each validated (a 422's `loc` names the index and the field); a request
  whose scoring fails comes back with `error` set instead of failing the batch.
- `GET /healthz`: the process is alive. `GET /readyz`: 200 when a champion is loaded, else 503 saying why.
- `GET /metrics`: Prometheus text from a registry of this app's own (never the process-global one, so several apps
  can live in one process): `mlplatform_requests_total`, `mlplatform_errors_total` and the histogram
  `mlplatform_latency_seconds`, labelled by model, version and role, for every request that passed validation.

The lifespan starts the router's refresh thread and, on shutdown (uvicorn turns SIGTERM and SIGINT into one),
closes the router, which settles the shadow jobs and flushes the prediction log.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at definition time, and the
# request model is a class built inside `create_app`, which string annotations could not name.

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel

from platform_assets.spec import ModelSpec
from serving.contract import request_model
from serving.router import NoChampionError, Prediction, PredictionRequest, Router, ScoringError

__all__ = ["BatchResponse", "PredictResponse", "create_app"]

_LOGGER = logging.getLogger(__name__)

# Latency buckets in seconds: dense below 50 ms, where the serving SLA lies.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_NO_VERSION = "none"  # the version label of a request no model answered (no champion loaded)


class PredictResponse(BaseModel):
    request_id: str
    score: float | None
    model_version: str
    role: str
    latency_ms: float
    error: str | None = None


class BatchResponse(BaseModel):
    predictions: list[PredictResponse]
    errors: int


class _Metrics:
    """The app's Prometheus series, in a registry of its own."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model", "version", "role"]
        self.requests = Counter(
            "mlplatform_requests_total",
            "Prediction requests answered (or failed) by a model",
            labels,
            registry=self.registry,
        )
        self.errors = Counter(
            "mlplatform_errors_total",
            "Prediction requests that failed after validation",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlplatform_latency_seconds",
            "Time from a validated request to its answer",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, version: str, role: str, seconds: float, failed: bool) -> None:
        self.requests.labels(self.model, version, role).inc()
        if failed:
            self.errors.labels(self.model, version, role).inc()
        self.latency.labels(self.model, version, role).observe(seconds)


def _response(prediction: Prediction) -> PredictResponse:
    return PredictResponse(
        request_id=prediction.request_id,
        score=prediction.score,
        model_version=prediction.model_version,
        role=prediction.role,
        latency_ms=prediction.latency_ms,
        error=prediction.error,
    )


def _error(status: int, kind: str, detail: str, request_id: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": kind, "detail": detail, "request_id": request_id})


def create_app(spec: ModelSpec, router: Router, refresh_seconds: float | None = None) -> FastAPI:
    """The prediction service for `spec` in front of `router`; the router's roles are re-read every
    `refresh_seconds` (default: the spec's `deployment.serving.refresh_seconds`) while the app runs."""
    interval = spec.deployment.serving.refresh_seconds if refresh_seconds is None else refresh_seconds
    metrics = _Metrics(spec.name)
    PredictRequest = request_model(spec)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        router.start_refreshing(interval)
        try:
            yield
        finally:
            # close() waits for shadow jobs and writes the log: off the event loop.
            await anyio.to_thread.run_sync(router.close)

    app = FastAPI(
        title=f"{spec.name} prediction service",
        description=spec.description,
        lifespan=lifespan,
    )
    app.state.router = router
    app.state.metrics_registry = metrics.registry

    # `async def`: scoring one row takes a fraction of a millisecond, less than the hop to the thread pool that a
    # plain `def` endpoint would cost; the router never blocks on I/O (the log is a queue, the shadow a pool).
    @app.post("/predict", response_model=PredictResponse, responses={500: {}, 503: {}})
    async def predict(request: PredictRequest) -> Any:  # type: ignore[valid-type]
        started = time.perf_counter()
        body: Any = request
        try:
            prediction = router.predict(body.request_id, body.features.model_dump(), body.unit_id, body.event_time)
        except NoChampionError as error:
            metrics.observe(_NO_VERSION, "none", time.perf_counter() - started, failed=True)
            return _error(503, "no_champion", str(error), body.request_id)
        except ScoringError as error:
            metrics.observe(error.model_version, error.role, time.perf_counter() - started, failed=True)
            return _error(500, "scoring_failed", error.error, body.request_id)
        except Exception as error:  # a bug in the router must fail this request only, never the worker
            _LOGGER.exception("request %s failed", body.request_id)
            metrics.observe(_NO_VERSION, "none", time.perf_counter() - started, failed=True)
            return _error(500, "internal_error", f"{type(error).__name__}: {error}", body.request_id)
        metrics.observe(prediction.model_version, prediction.role, time.perf_counter() - started, failed=False)
        # Serialized here: a returned Response skips FastAPI's re-validation and deep copy of a response that is
        # already a validated model; `response_model` still documents the shape.
        return Response(_response(prediction).model_dump_json(), media_type="application/json")

    # A plain `def`: a large batch runs in the thread pool, so it does not hold up single requests on the loop.
    @app.post("/predict/batch", response_model=BatchResponse, responses={500: {}, 503: {}})
    def predict_batch(requests: list[PredictRequest]) -> Any:  # type: ignore[valid-type]
        started = time.perf_counter()
        bodies: list[Any] = list(requests)
        try:
            predictions = router.predict_batch(
                [
                    PredictionRequest(
                        request_id=body.request_id,
                        features=body.features.model_dump(),
                        unit_id=body.unit_id,
                        event_time=body.event_time,
                    )
                    for body in bodies
                ]
            )
        except NoChampionError as error:
            for _ in bodies:
                metrics.observe(_NO_VERSION, "none", 0.0, failed=True)
            return _error(503, "no_champion", str(error))
        except Exception as error:
            _LOGGER.exception("a batch of %d requests failed", len(bodies))
            for _ in bodies:
                metrics.observe(_NO_VERSION, "none", 0.0, failed=True)
            return _error(500, "internal_error", f"{type(error).__name__}: {error}")
        # Each request's own scoring time, plus its share of the batch's overhead, so the histogram stays per request.
        overhead = max(time.perf_counter() - started - sum(p.latency_ms for p in predictions) / 1000.0, 0.0)
        share = overhead / max(len(predictions), 1)
        for prediction in predictions:
            metrics.observe(
                prediction.model_version,
                prediction.role,
                prediction.latency_ms / 1000.0 + share,
                failed=prediction.error is not None,
            )
        answer = BatchResponse(
            predictions=[_response(prediction) for prediction in predictions],
            errors=sum(prediction.error is not None for prediction in predictions),
        )
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {}})
    async def readyz() -> Any:
        status = router.status()
        content = {
            "ready": status.ready,
            "reason": status.reason,
            "model": spec.name,
            "champion": status.champion,
            "canary": status.canary,
            "shadow": status.shadow,
        }
        return JSONResponse(status_code=200 if status.ready else 503, content=content)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
