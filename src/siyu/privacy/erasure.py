"""Erasure (PIPL art. 47): a person's PII becomes unreadable everywhere it is kept, aggregates stay, a
suppression entry keeps them from coming back, and a scan proves nothing is left.

One erasure, run as a job of kind "privacy_erase" (the warehouse has one owner; a CLI hands it to the
server), for a deletion request of the queue:

1. The person: the customer's records (customer_map), the keyed hashes of their identifiers and, decrypted
   in memory only for the length of the job, the values themselves (phone, e-mail, platform ids).
2. The suppression entries (the identifiers' keyed hashes) are stored first, so an import running meanwhile
   already drops their rows (siyu.ingest.suppression).
3. Each registered eraser runs: the warehouse (raw chunks re-encrypted without their rows, PII columns of
   records and the summary blanked, identifiers deleted), the rejected-row files (rewritten without their
   rows), the uploaded files holding them (deleted; the erasure refuses while a waiting job still reads
   one), the control plane (notes, manual tags; consent history kept as proof, with an opt-out of every
   channel added) and what higher domains register (members, the chat archive, group stays, handovers,
   loyalty, surveys, sends, guide tasks: docs/architecture.md "Erasure" lists what each clears).
4. The scan searches every place again — keyed hashes in the hash columns, the identifiers' values in the
   decrypted raw chunks of every batch their rows came from, in every rejected-row file and upload, and what each
   eraser's own scan looks at — and is recorded as a step. A deletion request is closed as done only after
   a scan that found nothing (siyu.privacy.actions.advance_request).

Orders, items, events, touches and `customer_map` keep the customer id: counts and amounts do not change,
and no one can read who the customer was. Privacy sits low (DESIGN.md §7): a higher domain registers its
part with `register_person_eraser` in its AppConfig.ready().
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.models import Job
from siyu.customers.models import Consent, CustomerTag, Note, ProfileCorrection
from siyu.ingest import rejected, uploads
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest, DataRequestStep, Suppression
from siyu.warehouse import erasure as warehouse_erasure

JOB_KIND = "privacy_erase"


@dataclass
class Person:
    """Who is erased: held in memory for one job, never stored (the values are what is being erased)."""

    customer_id: int
    record_keys: list[str]
    # (id_type, keyed hash) of their phones, e-mails and platform ids: the suppression entries
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # 11+ digits, no +86
    texts: set[str] = field(default_factory=set)  # e-mails and platform ids, lower case
    batches: set[str] = field(default_factory=set)  # the import batches their rows came from
    # one random token of no one per erasure: a domain that keeps rows for its counts puts a pseudonym made
    # of it where the person's id was (the same in every domain, so the rows still agree with each other)
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    # what an eraser read of the person before the warehouse's part blanked it, for its own scan (in memory,
    # for this job: e.g. the identity model's values of theirs)
    held: dict = field(default_factory=dict)

    @property
    def value_hashes(self) -> set[str]:
        return {h for _, h in self.identifiers}

    def pseudonym(self, prefix: str = "") -> str:
        """What stands for the person where a row stays (e.g. prefix "wm-": a WeCom customer-like id)."""
        return f"{prefix}erased-{self.token}"

    def holds_id(self, id_type: str, value: str | None) -> bool:
        """Whether `value` is one of the person's identifiers of this type (a WeCom external_userid, a
        unionid…): by its keyed hash, as the warehouse hashes an id with its type (siyu.ingest.prepare)."""
        return bool(value) and (id_type, pii.keyed_hash(f"{id_type}:{value}")) in self.identifiers

    def matches(self, cells) -> bool:
        """Whether a row's cells carry one of the person's identifiers (a phone in any formatting)."""
        for cell in cells:
            if cell is None:
                continue
            text = str(cell)
            if self.phones and len(text) >= 11:
                digits = re.sub(r"\D", "", text)
                if any(p in digits for p in self.phones):
                    return True
            if self.texts:
                lower = text.lower()
                if any(t in lower for t in self.texts):
                    return True
        return False

    def rows_matching(self, frame: pl.DataFrame) -> int:
        """How many rows of `frame` carry one of the person's identifiers (matches, vectorised: a raw chunk
        is 10,000 rows)."""
        if not frame.width or not (self.phones or self.texts):
            return 0
        # one text per row, cells kept apart by a separator no identifier holds
        text = pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in frame.columns], separator="\x1f")
        digits = text.str.replace_all(r"[^\d\x1f]", "")
        lower = text.str.to_lowercase()
        hits = pl.lit(False)
        for phone in self.phones:
            hits = hits | digits.str.contains(phone, literal=True)
        for value in self.texts:
            hits = hits | lower.str.contains(value, literal=True)
        return int(frame.select(hits.sum()).item()) if frame.width else 0


@dataclass(frozen=True)
class PersonEraser:
    name: str
    label: str  # what the operator reads in the step (Chinese)
    erase: Callable[[Person, DataRequest], dict]
    scan: Callable[[Person], int] | None = None  # how many of the person's items it still finds
    reads_records: bool = False  # reads the person's warehouse records: runs before the warehouse's part


_ERASERS: dict[str, PersonEraser] = {}


def register_person_eraser(name: str, label: str, erase: Callable, scan: Callable | None = None,
                           reads_records: bool = False) -> None:  # fmt: skip
    """A domain's part of erasing one person: `erase(person, request) -> {counts}`, and optionally
    `scan(person) -> items left` (0 when none). `reads_records`: it reads the person's warehouse records,
    so it runs before the warehouse's part blanks them. Called from the domain's AppConfig.ready()."""
    _ERASERS[name] = PersonEraser(name, label, erase, scan, reads_records)


def person_erasers() -> list[PersonEraser]:
    """In the order they run: those reading the person's records first."""
    return sorted(_ERASERS.values(), key=lambda e: not e.reads_records)


def _phone_digits(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if len(digits) >= 11 else None  # a masked or partial number is no one's identifier


def person_of(customer_id: int) -> Person:
    """The person behind a customer as the warehouse knows them now."""
    keys = warehouse_erasure.record_keys_of(customer_id)
    person = Person(customer_id=int(customer_id), record_keys=keys)
    person.identifiers = set(warehouse_erasure.identifier_hashes(keys))
    for record in warehouse_erasure.records_pii(keys):
        for kind in ("phone", "email"):
            if record[f"{kind}_hash"]:
                person.identifiers.add((kind, record[f"{kind}_hash"]))
        values = record["pii"]
        if _phone_digits(values.get("phone")):
            person.phones.add(_phone_digits(values.get("phone")))
        if values.get("email"):
            person.texts.add(str(values["email"]).lower())
        for name, value in values.items():
            if name.startswith("id:") and value and len(str(value)) >= 6:  # short ids would match anything
                person.texts.add(str(value).lower())
    # a phone or e-mail they corrected to is theirs too, though no record holds it: suppressed and scanned
    for kind, sealed, value_hash in ProfileCorrection.objects.filter(
        customer_id=customer_id, field__in=("phone", "email")
    ).values_list("field", "value", "value_hash"):
        if value_hash:
            person.identifiers.add((kind, value_hash))
        try:
            value = pii.decrypt_json(bytes(sealed))
        except Exception:  # noqa: BLE001 - a value sealed with a retired key: its hash still suppresses it
            continue
        if kind == "phone" and _phone_digits(value):
            person.phones.add(_phone_digits(value))
        elif kind == "email" and value:
            person.texts.add(str(value).lower())
    person.batches = set(warehouse_erasure.batches_of(keys))
    return person


# --- the parts privacy erases itself (domains at or below it) ------------------------------------------


def _erase_warehouse(person: Person, request: DataRequest) -> dict:
    return warehouse_erasure.erase_records(person.customer_id, person.record_keys, sorted(person.value_hashes))


def _scan_warehouse(person: Person) -> int:
    found = warehouse_erasure.hashes_found(sorted(person.value_hashes))
    found.update(warehouse_erasure.pii_left(person.record_keys, person.customer_id))
    left = sum(found.values())
    if person.phones or person.texts:
        for batch_id, chunk_no in warehouse_erasure.chunks_of_batches(person.batches):
            left += person.rows_matching(warehouse_erasure.raw_chunk(batch_id, chunk_no).drop("__row__"))
    return left


def _erase_rejected(person: Person, request: DataRequest) -> dict:
    if not (person.phones or person.texts):
        return {"files": 0, "rows": 0}
    return rejected.erase_rows(person.matches)


def _scan_rejected(person: Person) -> int:
    return rejected.rows_matching(person.matches) if person.phones or person.texts else 0


def _waiting_uploads() -> set[str]:
    """The files a queued or running job is still to read (an import's `paths`, an archive import's `path`)."""
    waiting = set()
    for params in Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).values_list("params", flat=True):
        params = params or {}
        waiting.update(str(p) for p in params.get("paths") or [])
        if params.get("path"):
            waiting.add(str(params["path"]))
    return waiting


def check_no_waiting_upload(person: Person) -> None:
    """Refuse to erase while a queued or running job is still to read an uploaded file holding the person:
    the file cannot be deleted under it, and once the erasure has run the person's values are known no
    more, so a later scan could not find what the import leaves behind. Erase after the job has run."""
    if person.phones or person.texts:
        waiting = [Path(p) for p in _waiting_uploads()]
        if any(path.is_file() and uploads.holds(path, person.matches, person.rows_matching) for path in waiting):
            raise PrivacyError("a job waiting to run still reads an uploaded file holding this person: "
                               "erase after it has run")  # fmt: skip


def _erase_uploads(person: Person, request: DataRequest) -> dict:
    """Uploaded files holding the person are deleted: their import is done (its rows are in the raw
    chunks, handled above; check_no_waiting_upload ran before anything was erased)."""
    if not (person.phones or person.texts):
        return {"files": 0}
    return {"files": len(uploads.delete_files_holding(person.matches, _waiting_uploads(), person.rows_matching))}


def _scan_uploads(person: Person) -> int:
    return len(uploads.files_holding(person.matches, person.rows_matching)) if person.phones or person.texts else 0


def _erase_customer(person: Person, request: DataRequest) -> dict:
    """Notes (free text about the person) and manually given tags go; the consent history stays as proof
    (it holds no PII: channel, status, source, time) with an opt-out of every channel added, so that no
    send path reaches the customer id again."""
    cid = person.customer_id
    notes = Note.objects.filter(customer_id=cid).delete()[0]
    tags = CustomerTag.objects.filter(customer_id=cid).delete()[0]
    corrections = ProfileCorrection.objects.filter(customer_id=cid).delete()[0]  # the corrected values: PII
    opted_out = False
    latest = Consent.objects.filter(customer_id=cid, channel="all").order_by("-recorded_at", "-pk").first()
    if latest is None or latest.status != Consent.Status.OPT_OUT:
        Consent.objects.create(customer_id=cid, channel="all", status=Consent.Status.OPT_OUT,
                               source=f"个人信息删除（请求 {request.pk}）", recorded_at=timezone.now())  # fmt: skip
        opted_out = True
    return {"notes": notes, "tags": tags, "corrections": corrections, "opted_out": int(opted_out)}


def _scan_customer(person: Person) -> int:
    cid = person.customer_id
    return (Note.objects.filter(customer_id=cid).count() + CustomerTag.objects.filter(customer_id=cid).count()
            + ProfileCorrection.objects.filter(customer_id=cid).count())  # fmt: skip


VERIFIED = "已核验（核验内容随个人信息删除清除）"


def _request_texts_holding(person: Person) -> tuple[list[DataRequest], list[DataRequestStep]]:
    """The person's privacy requests whose free text (details, or a verification holding one of their
    identifiers) and the steps whose notes hold one of their identifiers."""
    requests = [r for r in DataRequest.objects.filter(customer_id=person.customer_id)
                if r.detail or (r.verification != VERIFIED and person.matches([r.verification]))]  # fmt: skip
    steps = [s for s in DataRequestStep.objects.filter(request__customer_id=person.customer_id).exclude(note="")
             if person.matches([s.note])]  # fmt: skip
    return requests, steps


def _erase_requests(person: Person, request: DataRequest) -> dict:
    """The person's own privacy requests stay as the record that they were asked and answered (kind, source,
    dates, status, steps), without the details they wrote; a verification text or a step's note holding
    one of their identifiers says only that they were verified / is cleared."""
    requests, steps = _request_texts_holding(person)
    with transaction.atomic():
        for r in requests:
            r.detail = ""
            if person.matches([r.verification]):
                r.verification = VERIFIED
            r.save(update_fields=["detail", "verification"])
        for s in steps:
            s.note = ""
            s.save(update_fields=["note"])
    return {"requests": len(requests), "steps": len(steps)}


def _scan_requests(person: Person) -> int:
    requests, steps = _request_texts_holding(person)
    return len(requests) + len(steps)


def register_own_erasers() -> None:
    register_person_eraser("warehouse", "数据仓库（原始行、记录、客户概览、标识）", _erase_warehouse, _scan_warehouse)
    register_person_eraser("rejected_rows", "被拒绝行文件", _erase_rejected, _scan_rejected)
    register_person_eraser("uploads", "上传的导入文件", _erase_uploads, _scan_uploads)
    register_person_eraser("customer", "客户备注、标签与资料更正（同意记录保留为凭证）", _erase_customer, _scan_customer)
    register_person_eraser("privacy_requests", "个人信息请求（请求说明、含个人信息的核验内容）", _erase_requests,
                           _scan_requests)  # fmt: skip


# --- suppression ----------------------------------------------------------------------------------------


def suppress(person: Person, request: DataRequest) -> int:
    """Store the person's identifiers' keyed hashes on the suppression list; returns how many are new."""
    now = timezone.now()
    known = set(Suppression.objects.filter(value_hash__in=person.value_hashes).values_list("value_hash", flat=True))
    new = [Suppression(value_hash=h, id_type=t[:32], request=request, created_at=now)
           for t, h in sorted(person.identifiers) if h not in known]  # fmt: skip
    Suppression.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def suppressed_hashes(hashes: set[str]) -> set[str]:
    found: set[str] = set()
    values = sorted(hashes)
    for start in range(0, len(values), 500):
        found.update(Suppression.objects.filter(value_hash__in=values[start : start + 500])
                     .values_list("value_hash", flat=True))  # fmt: skip
    return found


def erased_customers(hashes: set[str]) -> dict[str, int | None]:
    """{keyed hash: the erased customer's id (None: its request is gone)} of these hashes on the suppression
    list: what lets a domain syncing ids from a platform (the WeCom group sync) keep an erased person's id
    out, under the pseudonym their rows carry."""
    found: dict[str, int | None] = {}
    values = sorted(hashes)
    for start in range(0, len(values), 500):
        found.update(Suppression.objects.filter(value_hash__in=values[start : start + 500])
                     .values_list("value_hash", "request__customer_id"))  # fmt: skip
    return found


def any_suppressed() -> bool:
    # The importer used as a library without a control plane — one not migrated yet, or none it may open
    # (pytest's module fixtures block it with a RuntimeError) — has no list. A server always has one.
    try:
        if Suppression._meta.db_table not in connection.introspection.table_names():
            return False
        return Suppression.objects.exists()
    except (DatabaseError, RuntimeError):
        return False


# --- the job ----------------------------------------------------------------------------------------------


def scan(person: Person) -> dict[str, int]:
    """{eraser name: items of the person still found}; empty when nothing is left."""
    found = {}
    for eraser in person_erasers():
        if eraser.scan is not None:
            left = eraser.scan(person)
            if left:
                found[eraser.name] = left
    return found


def erase_person(request_id: int, actor=None) -> dict:
    """Erase the person of deletion request `request_id` and scan (the job's body; runs where the warehouse
    is owned). Each is a step of the request. Erasing again finds nothing left to do and scans again."""
    try:
        request = DataRequest.objects.get(pk=request_id)
    except DataRequest.DoesNotExist as exc:
        raise PrivacyError(f"no privacy request {request_id}") from exc
    check_erasable(request)
    person = person_of(request.customer_id)
    check_no_waiting_upload(person)
    with transaction.atomic():
        suppressed = suppress(person, request)
    erased = {"suppression": {"new": suppressed, "identifiers": len(person.identifiers)}}
    for eraser in person_erasers():
        erased[eraser.name] = eraser.erase(person, request)
    found = scan(person)
    now = timezone.now()
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        DataRequestStep.objects.create(request=request, action=DataRequestStep.Action.ERASURE, status=request.status,
                                       note=_summary(erased), actor=user, at=now, result={"erased": erased})  # fmt: skip
        DataRequestStep.objects.create(request=request, action=DataRequestStep.Action.SCAN, status=request.status,
                                       note="未发现残留" if not found else "仍发现：" + "，".join(
                                           f"{_label(k)} {n}" for k, n in found.items()),
                                       actor=user, at=now, result={"found": found})  # fmt: skip
    record_audit(actor, "privacy_request_erasure", target=str(request.customer_id), request=request.pk,
                 clean=not found, found=found)  # fmt: skip
    return {"request": request.pk, "customer_id": request.customer_id, "erased": erased, "found": found,
            "clean": not found}  # fmt: skip


def _label(name: str) -> str:
    eraser = _ERASERS.get(name)
    return eraser.label if eraser else name


def _summary(erased: dict) -> str:
    parts = []
    for name, counts in erased.items():
        numbers = "，".join(f"{k} {v}" for k, v in counts.items() if v)
        parts.append(f"{_label(name) if name != 'suppression' else '屏蔽名单'}：{numbers or '无'}")
    return "；".join(parts)


def check_erasable(request: DataRequest) -> None:
    if request.kind != DataRequest.Kind.DELETION:
        raise PrivacyError("only a deletion request erases the customer's data")
    if request.status in (DataRequest.Status.DONE, DataRequest.Status.REFUSED):
        raise PrivacyError("the request is closed")


def last_scan(request: DataRequest) -> DataRequestStep | None:
    return request.steps.filter(action=DataRequestStep.Action.SCAN).order_by("-at", "-pk").first()


def scan_passed(request: DataRequest) -> bool:
    step = last_scan(request)
    return step is not None and not (step.result or {}).get("found")


def run_erasure_job(job, progress) -> dict:
    """Job runner for kind "privacy_erase" (params: {"request": id})."""
    return erase_person(int(job.params["request"]), job.created_by)

