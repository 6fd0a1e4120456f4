"""A small study app on edgeopt: FastAPI plus the integration kit, ``edgedb_opt.asgi``.

Everything it knows of edgeopt is the documented API: ``lifespan`` opens the database with
the app, ``EdgeoptMiddleware`` runs each request in its region and read-your-writes scope
(and answers edgeopt errors with their HTTP status), ``db.study()`` and ``db.answers()`` are
the kept study flow, ``metrics_response`` and ``health`` serve ``/metrics`` and ``/healthz``.

It is configured by ``EDGEOPT_*`` variables only (see docs/runtime.md, Settings), so the same
file serves a local SQLite file or regions of embedded replicas. From the repository root:

    edgeopt init --db app.db && edgeopt seed --db app.db --scale tiny && edgeopt apply --db app.db
    EDGEOPT_DB=app.db uvicorn examples.fastapi_app:app

Two regions, each an embedded replica of one Turso server (reads in the region nearest the
caller's ``CF-IPCountry``, writes to the primary):

    EDGEOPT_REGION=iad EDGEOPT_REGIONS='[
      {"name": "iad", "url": "http://127.0.0.1:8080", "primary": true, "replica_path": "iad.db"},
      {"name": "fra", "url": "http://127.0.0.1:8080", "replica_path": "fra.db"}]' \\
      uvicorn examples.fastapi_app:app

A missing database file stops the app at startup (``must_exist``); it never creates one.
The walk-through is docs/app.md.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from edgedb_opt.asgi import EdgeoptMiddleware, database, lifespan, metrics_response
from edgedb_opt.runtime.health import health

Mode = Literal["practice", "weak_areas", "speed_drill", "review"]

app = FastAPI(title="edgeopt study example", lifespan=lifespan())
app.add_middleware(EdgeoptMiddleware)


@app.get("/questions")
async def questions(
    request: Request, user_id: int, exam_id: int, limit: int = 10, mode: Mode = "practice"
) -> list[dict[str, Any]]:
    """The user's next questions, none answered in the last 24 hours (``practice``: a uniform
    random pick; ``speed_drill``: easiest first; ``weak_areas``, ``review``); the options
    never say which one is correct."""
    db = database(request)
    return await db.study().study_questions(user_id, exam_id, limit=limit, mode=mode)


@app.post("/answers")
async def record_answers(request: Request, answers: Annotated[Any, Body()]) -> dict[str, Any]:
    """Store a JSON list of answers in one transaction; ``graded`` says which were correct.

    Each answer: ``user_id``, ``question_id``, ``selected_answer`` ("B", or "A,C"),
    ``client_answer_id`` (the idempotency key) and optionally ``study_session_id``,
    ``time_spent_seconds``, ``confidence_level``, ``flagged``, ``answered_at``. The writer
    checks every item (a bad one: 422 naming ``answers[i].<field>``, nothing written).
    """
    result = await database(request).answers().record(answers)
    return dataclasses.asdict(result)


@app.get("/progress/{user_id}/{exam_id}")
async def progress(request: Request, user_id: int, exam_id: int) -> dict[str, Any]:
    """The user's standing on one exam (``progress`` is null before the first answer)."""
    return await database(request).study().user_progress(user_id, exam_id)


@app.post("/sessions/{session_id}/progress")
async def session_progress(request: Request, session_id: int) -> dict[str, Any]:
    """Recompute a study session's progress from its answers and store it (404 when there
    is no such session)."""
    return await database(request).study().session_progress(session_id)


@app.get("/leaderboard/{exam_id}")
async def leaderboard(request: Request, exam_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The exam's top users by readiness."""
    return await database(request).study().leaderboard(exam_id, limit=limit)


@app.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus: statements, query cache, pools, replica lag."""
    body, content_type = metrics_response(database(request))
    return Response(body, media_type=content_type)


@app.get("/healthz")
async def healthz(request: Request, full: bool = False) -> JSONResponse:
    """Regions, replicas, pools and cache (``?full=true`` adds the file's checks: pragmas,
    plans, FTS5 integrity, statistics); 503 when a check failed. Keep it internal."""
    report = await health(database(request), deep=full)
    checks = [{"name": c.name, "level": c.level, "detail": c.detail} for c in report.checks]
    return JSONResponse(
        {"healthy": report.healthy, "checks": checks}, status_code=200 if report.healthy else 503
    )
