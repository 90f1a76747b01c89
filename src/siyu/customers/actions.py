"""Every state change of a customer's operational state: tags, notes, consent, owner, and the sync of
imported tags/owners from the warehouse.

`actor` is the user acting (None: the system itself, e.g. an import). Permission rules:
- admin, operator: any customer;
- manager: customers of their store's guides; may assign owners within the store;
- guide: tag, note and record consent for their own customers only; cannot reassign.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

import ibis
import polars as pl
import pyarrow as pa
from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu import warehouse
from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.batches import chunked
from siyu.core.errors import PermissionDenied
from siyu.customers import queries
from siyu.customers.errors import CustomerError
from siyu.customers.models import Consent, CustomerState, CustomerTag, Note, ProfileCorrection, Tag, TagGroup
from siyu.outbox.actions import record_outbound_event
from siyu.staff.models import Role
from siyu.staff.queries import can_view_pii, role_of, staff_by_handle, store_of

log = logging.getLogger(__name__)

MAX_BULK = 100_000
_BATCH = 5_000


def _ids(customer_ids) -> list[int]:
    if isinstance(customer_ids, int | str):
        customer_ids = [customer_ids]
    try:
        ids = sorted({int(i) for i in customer_ids})
    except (TypeError, ValueError) as exc:
        raise CustomerError("customer ids must be whole numbers") from exc
    if len(ids) > MAX_BULK:
        raise CustomerError(f"at most {MAX_BULK} customers at a time")
    if any(i <= 0 or i > queries.CUSTOMER_ID_MAX for i in ids):
        raise CustomerError("customer ids are positive whole numbers")
    return ids


def _check(actor, ids: list[int]) -> None:
    if actor is None:
        return  # the system (imports, merges)
    queries.check_access(actor, ids)


def _clean_name(value: str | None, what: str) -> str:
    text = queries.clean_text(value or "", limit=10_000).replace("\n", " ").replace("\t", " ").strip()
    if not text:
        raise CustomerError(f"the {what} is empty")
    if len(text) > 100:
        raise CustomerError(f"the {what} is longer than 100 characters")
    return text


def _resolve_tag_name(tag_name: str, group_name: str | None) -> tuple[str | None, str]:
    if group_name is None or not str(group_name).strip():
        group, name = queries.split_tag_label(tag_name)
    else:
        group, name = str(group_name).strip(), (tag_name or "").strip()
    return (_clean_name(group, "tag group name") if group else None), _clean_name(name, "tag name")


def ensure_tag(tag_name: str, group_name: str | None = None) -> Tag:
    """The tag `组名:标签` (or `标签` with no group), created if new."""
    group_label, name = _resolve_tag_name(tag_name, group_name)
    group = TagGroup.objects.get_or_create(name=group_label)[0] if group_label else None
    try:
        with transaction.atomic():
            return Tag.objects.get_or_create(group=group, name=name)[0]
    except IntegrityError:  # created concurrently
        return Tag.objects.get(group=group, name=name)


def _existing_tag(tag_name, group_name) -> list[Tag]:
    if group_name is None or not str(group_name).strip():
        return queries.find_tags(tag_name)
    return list(
        Tag.objects.filter(group__name=queries.clean_text(group_name), name=queries.clean_text(tag_name))
    )


@transaction.atomic
def add_tag(actor, customer_ids, tag_name: str, group_name: str | None = None, source: str = "manual") -> int:
    """Tag customers (bulk, idempotent). Returns how many customers newly got the tag."""
    ids = _ids(customer_ids)
    if source not in CustomerTag.Source.values:
        raise CustomerError(f"unknown tag source {source!r}")
    _check(actor, ids)
    queries.require_customers(ids)
    tag = ensure_tag(tag_name, group_name)
    already: set[int] = set()
    for chunk in chunked(ids):
        already.update(
            CustomerTag.objects.filter(tag=tag, customer_id__in=chunk).values_list("customer_id", flat=True)
        )
    created_by = actor if actor is not None and actor.is_authenticated else None
    new = [
        CustomerTag(customer_id=i, tag=tag, source=source, created_by=created_by)
        for i in ids
        if i not in already
    ]
    CustomerTag.objects.bulk_create(new, batch_size=_BATCH, ignore_conflicts=True)
    if new:
        record_audit(actor, "add_tag", target=str(tag), customers=len(new))
    return len(new)


@transaction.atomic
def remove_tag(actor, customer_ids, tag_name, group_name: str | None = None) -> int:
    """Take a tag off customers (bulk, idempotent: an absent tag is not an error). Returns how many lost it.

    `tag_name` may be a tag id, a `组名:标签` label or a name (with `group_name`)."""
    ids = _ids(customer_ids)
    _check(actor, ids)
    tags = _existing_tag(tag_name, group_name)
    if not tags:
        return 0
    removed = 0
    for chunk in chunked(ids):
        removed += CustomerTag.objects.filter(tag__in=tags, customer_id__in=chunk).delete()[0]
    if removed:
        record_audit(actor, "remove_tag", target=", ".join(str(t) for t in tags), customers=removed)
    return removed


def add_note(actor, customer_id: int, text: str) -> Note:
    (cid,) = _ids([customer_id])
    body = queries.clean_text(text or "", limit=100_000)
    if not body:
        raise CustomerError("the note is empty")
    if len(body) > 10_000:
        raise CustomerError("the note is longer than 10,000 characters")
    _check(actor, [cid])
    queries.require_customers([cid])
    author = actor if actor is not None and actor.is_authenticated else None
    return Note.objects.create(customer_id=cid, author=author, text=body)


@transaction.atomic  # the consent, its audit entry and its outbound event (siyu.outbox) together
def record_consent(actor, customer_id: int, channel: str, status: str, source: str, at=None) -> Consent:
    """Record a consent or opt-out (PIPL: with its source and time). The latest per channel is in force;
    a record with an earlier `at` than one already stored is kept as history but does not win."""
    (cid,) = _ids([customer_id])
    if channel not in queries.CONSENT_CHANNELS:
        raise CustomerError(
            f"unknown channel {channel!r}; choose one of {', '.join(queries.CONSENT_CHANNELS)}"
        )
    if status not in Consent.Status.values:
        raise CustomerError(
            f"unknown consent status {status!r}; choose one of {', '.join(Consent.Status.values)}"
        )
    source_text = queries.clean_text(source or "", limit=10_000)
    if not source_text:
        raise CustomerError("say where the consent came from (source)")
    if len(source_text) > 100:
        raise CustomerError("the consent source is longer than 100 characters")
    at = at or timezone.now()
    if timezone.is_naive(at):
        raise CustomerError("the consent time needs a time zone")
    at = at.astimezone(UTC)  # PostgreSQL refuses offsets beyond ±15:59 that Python accepts
    if at > timezone.now() + timedelta(minutes=5):
        raise CustomerError("a consent cannot be recorded in the future")
    _check(actor, [cid])
    queries.require_customers([cid])
    consent = Consent.objects.create(
        customer_id=cid,
        channel=channel,
        status=status,
        source=source_text,
        recorded_at=at,
        recorded_by=actor if actor is not None and actor.is_authenticated else None,
    )
    record_audit(actor, "record_consent", target=str(cid), channel=channel, status=status, source=source_text)
    record_outbound_event("consent.changed", cid, {"channel": channel, "status": status, "consent_id": consent.pk})
    return consent


def _check_can_assign(actor, owner) -> None:
    if actor is None:
        return
    role = role_of(actor)
    if role in (Role.ADMIN, Role.OPERATOR):
        return
    if role == Role.MANAGER:
        if owner is not None:
            owner_store = store_of(owner)
            if owner_store is None or owner_store != store_of(actor):
                raise PermissionDenied("a manager can hand customers only to staff of their own store")
        return
    raise PermissionDenied("only an admin, operator or store manager can assign customers")


@transaction.atomic
def assign_owner(actor, customer_ids, user, lock: bool = False) -> int:
    """Make `user` the owner guide of customers (None: no owner). `lock=True` keeps imports from
    reassigning them. Returns how many customers changed owner."""
    ids = _ids(customer_ids)
    _check_can_assign(actor, user)
    if user is not None and getattr(user, "staff", None) is None:
        raise CustomerError(f"{user.get_username()} is not a staff member")
    _check(actor, ids)
    queries.require_customers(ids)
    owner_id = user.pk if user is not None else None
    existing = queries.states_of(ids)
    changed = [i for i in ids if i not in existing or existing[i].owner_id != owner_id]
    CustomerState.objects.bulk_create(
        [CustomerState(customer_id=i) for i in ids if i not in existing],
        batch_size=_BATCH,
        ignore_conflicts=True,
    )
    for chunk in chunked(ids):
        CustomerState.objects.filter(customer_id__in=chunk).update(
            owner_id=owner_id, owner_locked=lock, owner_merged_from=None, updated_at=timezone.now()
        )
    if changed:
        record_audit(
            actor,
            "assign_owner",
            target=str(owner_id or ""),
            customers=len(changed),
            customer_ids=changed[:100],
            locked=lock,
        )
    return len(changed)


def set_lifecycle_override(actor, customer_id: int, stage: str) -> None:
    """Pin a customer's lifecycle stage ("" to go back to the computed stage)."""
    (cid,) = _ids([customer_id])
    _check(actor, [cid])
    queries.require_customers([cid])
    CustomerState.objects.update_or_create(
        customer_id=cid, defaults={"lifecycle_override": (stage or "").strip()[:32]}
    )


# --- sync from the warehouse ---------------------------------------------------------------------


# --- corrections (PIPL art. 46) -----------------------------------------------------------------------------

CORRECTABLE = tuple(ProfileCorrection.Field.values)
# corrected fields that find the customer (their keyed hash is kept: siyu.customers.queries.corrected_to)
HASHED = ("phone", "email")
MAX_CORRECTION = 300


def _corrected_value(field: str, value) -> str:
    """The value as the profile keeps it, or CustomerError saying what is wrong (in English)."""
    from siyu.ingest.normalise.phone import normalise_phone
    from siyu.ingest.normalise.values import normalise_email, normalise_gender, parse_birthday

    text = queries.clean_text(value or "", limit=MAX_CORRECTION + 1).replace("\n", " ").strip()
    if not text:
        raise CustomerError(f"the corrected {field} is empty")
    if len(text) > MAX_CORRECTION:
        raise CustomerError(f"the corrected {field} is longer than {MAX_CORRECTION} characters")
    if field == "phone":
        phone = normalise_phone(text)
        if phone is None or phone.kind not in ("mobile", "landline"):
            raise CustomerError("the corrected phone is not a phone number")
        return phone.value
    if field == "email":
        email = normalise_email(text)
        if email is None:
            raise CustomerError("the corrected email is not an email address")
        return email
    if field == "gender":
        gender = normalise_gender(text)
        if gender is None:
            raise CustomerError("the corrected gender is not 男/女 (M/F)")
        return gender
    if field == "birthday":
        try:
            birthday = parse_birthday(text, today=timezone.localdate())
        except ValueError:
            birthday = None
        if birthday is None:
            raise CustomerError("the corrected birthday is not a date (YYYY-MM-DD)")
        return birthday.isoformat()
    return text


def correct_profile(actor, customer_id: int, changes: dict, reason: str = "", at=None) -> list[str]:
    """Correct profile fields (name, phone, email, address, gender, birthday) of one customer: each becomes a
    ProfileCorrection the profile shows instead of what the imported records say (they stay as imported:
    the correction is the brand's word, the records are what each channel sent). Only a field whose value
    changes is written. Returns the fields corrected. Needs someone who may see the customer's PII;
    audited (field names only: the values are PII and stay encrypted in the correction)."""
    ids = _ids(customer_id)
    if actor is not None and not can_view_pii(actor):
        raise PermissionDenied("correcting a profile needs an account that may see customers' PII")
    _check(actor, ids)
    queries.require_customers(ids)
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise CustomerError(f"these fields cannot be corrected: {', '.join(unknown)}; choose from {', '.join(CORRECTABLE)}")
    cleaned = {field: _corrected_value(field, value) for field, value in changes.items() if value not in (None, "")}
    current = queries.corrections_of(ids[0])
    changed = [f for f in CORRECTABLE if f in cleaned and current.get(f) != cleaned[f]]
    if not changed:
        return []
    at = at or timezone.now()
    staff = actor if actor is not None and actor.is_authenticated else None
    with transaction.atomic():
        ProfileCorrection.objects.bulk_create([
            ProfileCorrection(customer_id=ids[0], field=f, value=pii.encrypt_json(cleaned[f]),
                              value_hash=(pii.keyed_hash(cleaned[f]) if f in HASHED else "") or "",
                              reason=reason[:200], corrected_by=staff, corrected_at=at) for f in changed
        ])  # fmt: skip
        record_audit(actor, "correct_profile", target=str(ids[0]), fields=changed, reason=reason[:200])
    return changed


def _frame(rows, schema: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=schema, orient="row")


def sync_from_warehouse(customer_ids: list[int] | None = None) -> dict:
    """After an import/resolve: bring the tags and owners the files carried into the control plane.

    - every label in `customer_summary.tags` becomes a CustomerTag(source=import): `组名:标签` goes into
      the TagGroup 组名, a plain `标签` has no group (a tag the customer already has, manual or imported,
      is left as it is);
    - `customer_summary.owner_staff` naming a staff member (WeCom userid or display name) becomes the
      owner, unless the owner is locked; a name shared by two staff is left alone (ambiguous).
    Only differences are written, so re-running on unchanged data changes nothing and is quick.
    `customer_ids`: only these customers (those an incremental resolve run refreshed)."""
    backend = warehouse.backend()
    cs = backend.table("customer_summary")
    if customer_ids is not None:
        wanted = ibis.memtable(pa.table({"customer_id": pa.array(customer_ids, type=pa.int64())}))
        cs = cs.semi_join(wanted, "customer_id")
    id_schema = {"customer_id": pl.Int64, "tag_id": pl.Int64}

    # Tags: the distinct labels become tags; then only the missing (customer, tag) links are written.
    tagged = cs.filter(cs.tags.notnull() & (cs.tags.length() > 0))
    pairs = tagged.select(customer_id=tagged.customer_id, label=tagged.tags.unnest())
    pairs = pairs.filter(pairs.label.notnull() & (pairs.label.strip() != "")).distinct()
    labels = sorted({row["label"] for row in pairs.select("label").distinct().to_pyarrow().to_pylist()})
    groups_before, tags_before = TagGroup.objects.count(), Tag.objects.count()
    tag_by_label: dict[str, int] = {}
    skipped_labels = []
    for label in labels:
        try:
            tag_by_label[label] = ensure_tag(label).pk
        except CustomerError:
            skipped_labels.append(label)
    tags_added = 0
    if tag_by_label:
        label_ids = pl.DataFrame(
            {"label": list(tag_by_label), "tag_id": list(tag_by_label.values())},
            schema={"label": pl.String, "tag_id": pl.Int64},
        )
        wanted = (
            pl.from_arrow(pairs.to_pyarrow())
            .join(label_ids, on="label")
            .select(pl.col("customer_id").cast(pl.Int64), "tag_id")
            .unique()
        )
        have = _frame(
            CustomerTag.objects.filter(tag_id__in=set(tag_by_label.values())).values_list(
                "customer_id", "tag_id"
            ),
            id_schema,
        )
        new = wanted.join(have, on=["customer_id", "tag_id"], how="anti")
        for batch in new.iter_slices(50_000):
            links = [
                CustomerTag(customer_id=cid, tag_id=tid, source=CustomerTag.Source.IMPORT)
                for cid, tid in batch.iter_rows()
            ]
            with transaction.atomic():
                CustomerTag.objects.bulk_create(links, batch_size=_BATCH, ignore_conflicts=True)
            tags_added += len(links)

    # Owners.
    handles = staff_by_handle()
    owned = cs.filter(cs.owner_staff.notnull() & (cs.owner_staff.strip() != ""))
    named = pl.from_arrow(owned.select(owned.customer_id, handle=owned.owner_staff.strip()).to_pyarrow())
    handle_table = pl.DataFrame(
        {"handle": list(handles), "owner": list(handles.values())},
        schema={"handle": pl.String, "owner": pl.Int64},
    )
    named = named.join(handle_table, on="handle", how="left", nulls_equal=False)
    known = set(handles)
    unmatched = sorted({h for h in named["handle"].unique().to_list() if h not in known})
    ambiguous = sorted({h for h in named["handle"].unique().to_list() if h in known and handles[h] is None})
    wanted_owner = named.filter(pl.col("owner").is_not_null()).select(
        pl.col("customer_id").cast(pl.Int64), "owner"
    )
    states = _frame(
        CustomerState.objects.values_list("customer_id", "owner_id", "owner_locked"),
        {"customer_id": pl.Int64, "owner_id": pl.Int64, "owner_locked": pl.Boolean},
    )
    compared = wanted_owner.join(states, on="customer_id", how="left")
    locked_kept = compared.filter(
        pl.col("owner_locked").fill_null(False)
        & (pl.col("owner_id").is_null() | (pl.col("owner_id") != pl.col("owner")))
    ).height
    missing_state = compared.filter(pl.col("owner_locked").is_null())["customer_id"].to_list()
    to_change = compared.filter(
        ~pl.col("owner_locked").fill_null(False)
        & (pl.col("owner_id").is_null() | (pl.col("owner_id") != pl.col("owner")))
    )
    for chunk in chunked(missing_state, _BATCH):
        with transaction.atomic():
            CustomerState.objects.bulk_create(
                [CustomerState(customer_id=i) for i in chunk], ignore_conflicts=True
            )
    owners_set = 0
    now = timezone.now()
    for (owner_id,), group in to_change.group_by(["owner"]):
        ids = sorted(group["customer_id"].to_list())
        for chunk in chunked(ids):
            with transaction.atomic():
                owners_set += CustomerState.objects.filter(customer_id__in=chunk, owner_locked=False).update(
                    owner_id=owner_id, updated_at=now
                )
    result = {
        "tag_groups_created": TagGroup.objects.count() - groups_before,
        "tags_created": Tag.objects.count() - tags_before,
        "customer_tags_added": tags_added,
        "owners_set": owners_set,
        "owners_locked_kept": locked_kept,
        "unmatched_owner_staff": unmatched[:100],
        "ambiguous_owner_staff": ambiguous[:100],
        "skipped_tag_labels": skipped_labels[:100],
    }
    if tags_added or owners_set:
        record_audit(
            None,
            "sync_customers_from_warehouse",
            target="customer_summary",
            **{k: v for k, v in result.items() if isinstance(v, int)},
        )
    return result


def follow_merges(run_id: str) -> dict:
    """Carry control-plane state along the merges and splits of an identity run (merge_log rows of
    `run_id`). Rules for a merge of `absorbed` into `survivor`:
    - tags: united (the absorbed customer's tags are added to the survivor);
    - notes: kept (copied to the survivor, the originals stay with the absorbed id);
    - consent: the strictest per channel (an opt-out on either side is recorded on the survivor);
    - owner: the survivor keeps its owner (locked or not); without one it takes the absorbed customer's;
    - profile corrections (PIPL art. 46): kept (copied with their own times, so the latest correction of a
      field, made on either customer, is in force on the survivor);
    - points: there is no points ledger yet.
    Everything copied carries `merged_from = absorbed`; the absorbed id's own rows are never changed, so a
    split that gives the absorbed id back (an undone merge) removes exactly the copies: both customers are
    as they were before the merge."""
    log = warehouse.backend().table("merge_log")
    rows = log.filter(log.run_id == run_id).select("survivor_id", "absorbed_id", "rule").to_pyarrow().to_pylist()
    merged = unmerged = 0
    with transaction.atomic():
        for row in rows:
            if row["rule"] == "split":
                unmerged += _unmerge_state(row["survivor_id"], row["absorbed_id"])
            else:
                _merge_state(row["survivor_id"], row["absorbed_id"])
                merged += 1
    return {"merges_followed": merged, "merges_undone": unmerged}


def _merge_state(survivor: int, absorbed: int) -> None:
    have = set(CustomerTag.objects.filter(customer_id=survivor).values_list("tag_id", flat=True))
    CustomerTag.objects.bulk_create(
        [
            CustomerTag(customer_id=survivor, tag_id=t.tag_id, source=t.source, created_by_id=t.created_by_id,
                        merged_from=absorbed)
            for t in CustomerTag.objects.filter(customer_id=absorbed).exclude(tag_id__in=have)
        ]
    )  # fmt: skip
    originals = list(Note.objects.filter(customer_id=absorbed))
    copies = Note.objects.bulk_create(
        [Note(customer_id=survivor, author_id=n.author_id, text=n.text, merged_from=absorbed) for n in originals]
    )
    # created_at is auto_now_add: give the copies their original times
    for copy, original in zip(copies, originals, strict=True):
        Note.objects.filter(pk=copy.pk).update(created_at=original.created_at)
    ProfileCorrection.objects.bulk_create(
        [
            ProfileCorrection(customer_id=survivor, field=c.field, value=c.value, value_hash=c.value_hash,
                              reason=c.reason, corrected_by_id=c.corrected_by_id, corrected_at=c.corrected_at,
                              merged_from=absorbed)
            for c in ProfileCorrection.objects.filter(customer_id=absorbed)
        ]
    )  # fmt: skip
    mine, theirs = _consent_in_force(survivor), _consent_in_force(absorbed)
    now = timezone.now()
    Consent.objects.bulk_create(
        [
            Consent(customer_id=survivor, channel=channel, status=Consent.Status.OPT_OUT,
                    source=f"merge of #{absorbed}", recorded_at=now, merged_from=absorbed)
            for channel, status in theirs.items()
            if status == Consent.Status.OPT_OUT and mine.get(channel) != Consent.Status.OPT_OUT
        ]
    )  # fmt: skip
    other = CustomerState.objects.filter(customer_id=absorbed).first()
    if other is not None and other.owner_id is not None:
        state, _ = CustomerState.objects.get_or_create(customer_id=survivor)
        if state.owner_id is None:
            state.owner_merged_from = absorbed
            state.owner_id, state.owner_locked = other.owner_id, other.owner_locked
            state.save()


def _consent_in_force(customer_id: int) -> dict[str, str]:
    return {channel: consent["status"] for channel, consent in queries.consent_of(customer_id).items()}


def _unmerge_state(survivor: int, absorbed: int) -> int:
    """Remove what a merge of `absorbed` into `survivor` copied; 0 when nothing was copied."""
    removed = 0
    for model in (CustomerTag, Note, Consent, ProfileCorrection):
        removed += model.objects.filter(customer_id=survivor, merged_from=absorbed).delete()[0]
    state = CustomerState.objects.filter(customer_id=survivor, owner_merged_from=absorbed).first()
    if state is not None:  # it had no owner before the merge
        state.owner_id, state.owner_locked, state.owner_merged_from = None, False, None
        state.save()
        removed += 1
    return 1 if removed else 0
