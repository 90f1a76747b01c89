"""/api/customers/{id}/traits and /api/traits: a customer's traits (current, or as of a past day), the
stored snapshots, a refresh, and the computed-tag and stage-set definitions (changed definitions apply at
the next refresh)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from django.http import HttpResponse
from ninja import Path, Query, Router

from siyu.core.errors import PermissionDenied
from siyu.core.owner import submit_job
from siyu.customers import queries as customer_queries
from siyu.customers.queries import CustomerIdPath
from siyu.segments import actions, queries
from siyu.segments.errors import NotFound
from siyu.segments.models import ComputedTag, StageSet
from siyu.segments.schemas import (
    ComputedTagIn,
    ComputedTagOut,
    DeletedOut,
    StageSetIn,
    StageSetOut,
    TraitJobOut,
    TraitRunIn,
    TraitRunOut,
    TraitsOut,
)
from siyu.segments.traits import cutoff_of
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["traits"])

NamePath = Annotated[str, Path(min_length=1, max_length=100)]


def _require_editor(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only an admin or operator account can refresh traits or change their rules")


@router.get(
    "/customers/{customer_id}/traits",
    response={200: TraitsOut, 400: ErrorOut, **LOOKUP_ERRORS},
    summary="A customer's traits, now or as of a past day",
)
def customer_traits(
    request,
    customer_id: CustomerIdPath,
    as_of: Annotated[
        date | None, Query(description="a day with a stored snapshot (siyu traits --as-of)")
    ] = None,
):
    customer_queries.visible_owner_ids(request.auth)
    customer_queries.require_customers([customer_id])
    customer_queries.check_access(request.auth, customer_id)
    traits = queries.traits_of(customer_id, as_of)
    if traits is None:
        raise NotFound(
            f"customer {customer_id} is not in this traits snapshot: first seen after its cut-off, or new "
            "since the last refresh"
        )
    return {**traits, "spend_total": str(traits["spend_total"]), "monetary": str(traits["monetary"])}


@router.get(
    "/traits/runs", response={200: list[TraitRunOut], **LOOKUP_ERRORS}, summary="Stored traits snapshots"
)
def trait_runs(request):
    customer_queries.visible_owner_ids(request.auth)
    return queries.trait_runs()


@router.post(
    "/traits/runs", response={202: TraitJobOut, **WRITE_ERRORS}, summary="Compute traits (now or as of a day)"
)
@roles(*actions.EDITOR_ROLES)
def refresh(request, response: HttpResponse, body: TraitRunIn, idempotency_key: IdempotencyKeyHeader):
    cutoff_of(body.as_of)  # a day in the future is refused here, not by a failed job

    def run():
        params = {"as_of": body.as_of.isoformat()} if body.as_of else {}
        job = submit_job("traits", params, request.auth, in_process=False)  # the server's worker runs it
        job.refresh_from_db()
        return {"job_id": str(job.pk), "status": job.status, "result": job.result}

    return run_once(request, response, idempotency_key, body, run, status=202)


def _stage_set_dict(stage_set: StageSet) -> dict:
    return {
        "name": stage_set.name,
        "label": stage_set.label,
        "stages": stage_set.stages,
        "default_stage": stage_set.default_stage,
        "active": stage_set.active,
        "updated_at": stage_set.updated_at,
    }


def _computed_tag_dict(tag: ComputedTag) -> dict:
    return {
        "name": tag.name,
        "rule": tag.rule,
        "description": tag.description,
        "active": tag.active,
        "updated_at": tag.updated_at,
    }


@router.get(
    "/traits/stage-sets", response={200: list[StageSetOut], **LOOKUP_ERRORS}, summary="Custom stage sets"
)
def stage_sets(request):
    customer_queries.visible_owner_ids(request.auth)
    return [_stage_set_dict(s) for s in StageSet.objects.all()]


@router.put(
    "/traits/stage-sets/{name}",
    response={200: StageSetOut, **WRITE_ERRORS},
    summary="Create or replace a stage set",
)
@roles(*actions.EDITOR_ROLES)
def put_stage_set(
    request, response: HttpResponse, name: NamePath, body: StageSetIn, idempotency_key: IdempotencyKeyHeader
):
    def run():
        saved = actions.save_stage_set(
            request.auth,
            name,
            [stage.model_dump() for stage in body.stages],
            default_stage=body.default_stage,
            label=body.label,
            active=body.active,
        )
        return _stage_set_dict(saved)

    return run_once(request, response, idempotency_key, body, run)


def _delete(request, response, key: str, name: str, delete) -> dict:
    def run():
        delete(request.auth, name)
        return {"deleted": name}

    return run_once(request, response, key, {"name": name}, run)


@router.delete(
    "/traits/stage-sets/{name}", response={200: DeletedOut, **WRITE_ERRORS}, summary="Delete a stage set"
)
@roles(*actions.EDITOR_ROLES)
def delete_stage_set(request, response: HttpResponse, name: NamePath, idempotency_key: IdempotencyKeyHeader):
    return _delete(request, response, idempotency_key, name, actions.delete_stage_set)


@router.get(
    "/traits/computed-tags", response={200: list[ComputedTagOut], **LOOKUP_ERRORS}, summary="Computed tags"
)
def computed_tags(request):
    customer_queries.visible_owner_ids(request.auth)
    return [_computed_tag_dict(t) for t in ComputedTag.objects.all()]


@router.put(
    "/traits/computed-tags/{name}",
    response={200: ComputedTagOut, **WRITE_ERRORS},
    summary="Create or replace a computed tag",
)
@roles(*actions.EDITOR_ROLES)
def put_computed_tag(
    request,
    response: HttpResponse,
    name: NamePath,
    body: ComputedTagIn,
    idempotency_key: IdempotencyKeyHeader,
):
    def run():
        saved = actions.save_computed_tag(
            request.auth, name, body.rule, description=body.description, active=body.active
        )
        return _computed_tag_dict(saved)

    return run_once(request, response, idempotency_key, body, run)


@router.delete(
    "/traits/computed-tags/{name}",
    response={200: DeletedOut, **WRITE_ERRORS},
    summary="Delete a computed tag",
)
@roles(*actions.EDITOR_ROLES)
def delete_computed_tag(
    request, response: HttpResponse, name: NamePath, idempotency_key: IdempotencyKeyHeader
):
    return _delete(request, response, idempotency_key, name, actions.delete_computed_tag)
