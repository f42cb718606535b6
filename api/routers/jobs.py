"""Background jobs: follow a big article's addition, or cancel it."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Service
from api.schemas import ErrorOut
from api.security import REFUSALS, Reader, Writer
from qa.jobs import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses=REFUSALS)


@router.get(
    "/{job_id}",
    dependencies=[Reader],
    responses={404: {"model": ErrorOut, "description": "No such job (or no longer kept)."}},
)
def get_job(job_id: str, service: Service) -> Job:
    """A job's state (queued, running, done, failed, cancelled), its progress in chunks, and once it ended the
    addition's result or its error. Finished jobs are kept for an hour (the last 100)."""
    return service.job(job_id)


@router.delete(
    "/{job_id}",
    dependencies=[Writer],
    responses={
        404: {"model": ErrorOut, "description": "No such job (or no longer kept)."},
        409: {"model": ErrorOut, "description": "The job is done: the article is stored."},
    },
)
def cancel_job(job_id: str, service: Service) -> Job:
    """Cancel a job: a waiting one at once, a running one at its next step (the reply waits a few seconds for
    it). Nothing it would have stored is stored: the article keeps its previous version, or stays absent."""
    return service.cancel_job(job_id)
