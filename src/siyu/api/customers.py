"""/api/customers and /api/tags: list/search, profile, tags, notes, consent."""

from __future__ import annotations

from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Query, Router

from siyu.api.schemas import (
    BulkTagIn,
    BulkTagOut,
    ConsentIn,
    ConsentOut,
    CustomerPageOut,
    NoteIn,
    NoteOut,
    ProfileOut,
    TagChangeOut,
    TagGroupOut,
    TagIn,
)
from siyu.core.timeutil import as_platform_time
from siyu.customers import actions, queries
from siyu.customers.queries import CustomerIdPath
from siyu.identity.labels import describe_joins
from siyu.identity.queries import customer_evidence
from siyu.segments.queries import customer_list_query
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["customers"])

TextFilter = Annotated[str | None, Query(max_length=200)]



@router.get("/customers", response={200: CustomerPageOut, **READ_ERRORS}, summary="List and search customers")
def list_customers(
    request,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="customer id, last 4 digits of a phone, a full phone, an email, or a name",
        ),
    ] = None,
    source: TextFilter = None,
    tag: Annotated[str | None, Query(max_length=201, description="tag id, `组名:标签` or tag name")] = None,
    province: TextFilter = None,
    stage: TextFilter = None,
    rfm_layer: Annotated[str | None, Query(max_length=200, description="current traits: important_value …")] = None,
    value_layer: Annotated[str | None, Query(max_length=200, description="current traits: top, waist, tail")] = None,
    aipl_stage: Annotated[str | None, Query(max_length=200, description="aware, interest, purchase, loyalty")] = None,
    computed_tag: Annotated[str | None, Query(max_length=200, description="a computed tag's name")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
    order: Annotated[Literal["recent", "id"], Query(description="recent buyers first, or by id")] = "recent",
):
    query = customer_list_query(
        q=q,
        source=source,
        tag=tag,
        province=province,
        stage=stage,
        rfm_layer=rfm_layer,
        value_layer=value_layer,
        aipl_stage=aipl_stage,
        computed_tag=computed_tag,
        page=page,
        page_size=page_size,
        order=order,
    )
    result = queries.list_customers(request.auth, query)
    return {
        "items": result.items,
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
        "page_size": result.page_size,
    }


@router.get(
    "/customers/{customer_id}",
    response={200: ProfileOut, 404: ErrorOut, **READ_ERRORS},
    summary="One customer's profile",
)
def get_profile(request, customer_id: CustomerIdPath):
    profile = queries.get_profile(request.auth, customer_id)
    evidence = customer_evidence(customer_id, [i["record_key"] for i in profile["identities"]])
    joins = describe_joins(evidence, lambda key: key)
    profile["joins"] = [
        {
            "record_key": j["record_key"],
            "joined_to": j["parent_key"],
            "how": j["how"],
            "words": j["words"],
            "id_types": j["id_types"],
            "match_probability": j["probability"],
            "match_weight": j["weight"],
            "fields": j["fields"],
            "agreed": j["agreed"],
            "rule": j["rule"],
            "decided_by": j["decided_by"],
            "decided_at": j["decided_at"],
            "reason": j["reason"],
        }
        for j in joins
    ]
    return profile


@router.get("/tags", response={200: list[TagGroupOut], **READ_ERRORS}, summary="Tag groups and their tags")
def list_tags(request):
    queries.visible_owner_ids(request.auth)  # an account without a role gets 403
    return queries.tag_groups()


def _tag_change(request, response, key, customer_id, payload, change):
    def run():
        changed = change()
        return {"changed": changed, "tags": queries.tags_of(customer_id)}

    return run_once(request, response, key, payload, run)


@router.post(
    "/customers/{customer_id}/tags",
    response={200: TagChangeOut, **WRITE_ERRORS},
    summary="Tag a customer (idempotent)",
)
def add_tag(
    request,
    response: HttpResponse,
    customer_id: CustomerIdPath,
    body: TagIn,
    idempotency_key: IdempotencyKeyHeader,
):
    return _tag_change(
        request,
        response,
        idempotency_key,
        customer_id,
        body,
        lambda: actions.add_tag(request.auth, [customer_id], body.tag, body.group),
    )


@router.delete(
    "/customers/{customer_id}/tags",
    response={200: TagChangeOut, **WRITE_ERRORS},
    summary="Take a tag off a customer (idempotent)",
)
def remove_tag(
    request,
    response: HttpResponse,
    customer_id: CustomerIdPath,
    idempotency_key: IdempotencyKeyHeader,
    tag: Annotated[str, Query(min_length=1, max_length=201, description="tag id, `组名:标签` or tag name")],
    group: Annotated[str | None, Query(max_length=100)] = None,
):
    def change():
        queries.require_customers([customer_id])
        return actions.remove_tag(request.auth, [customer_id], tag, group)

    return _tag_change(request, response, idempotency_key, customer_id, {"tag": tag, "group": group}, change)


@router.post(
    "/tags/bulk", response={200: BulkTagOut, **WRITE_ERRORS}, summary="Add or remove a tag for many customers"
)
def bulk_tags(request, response: HttpResponse, body: BulkTagIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        if body.action == "add":
            changed = actions.add_tag(request.auth, body.customer_ids, body.tag, body.group)
        else:
            changed = actions.remove_tag(request.auth, body.customer_ids, body.tag, body.group)
        label = body.tag if not body.group else f"{body.group}:{body.tag}"
        return {
            "action": body.action,
            "tag": label,
            "customers": len(set(body.customer_ids)),
            "changed": changed,
        }

    return run_once(request, response, idempotency_key, body, run)


@router.post(
    "/customers/{customer_id}/notes",
    response={201: NoteOut, **WRITE_ERRORS},
    summary="Add a note to a customer",
)
def add_note(
    request,
    response: HttpResponse,
    customer_id: CustomerIdPath,
    body: NoteIn,
    idempotency_key: IdempotencyKeyHeader,
):
    def run():
        return queries.note_dict(actions.add_note(request.auth, customer_id, body.text))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.post(
    "/customers/{customer_id}/consents",
    response={201: ConsentOut, **WRITE_ERRORS},
    summary="Record a consent or opt-out (PIPL)",
)
def record_consent(
    request,
    response: HttpResponse,
    customer_id: CustomerIdPath,
    body: ConsentIn,
    idempotency_key: IdempotencyKeyHeader,
):
    def run():
        consent = actions.record_consent(
            request.auth, customer_id, body.channel, body.status, body.source, at=as_platform_time(body.at)
        )
        return queries.consent_dict(consent)

    return run_once(request, response, idempotency_key, body, run, status=201)
