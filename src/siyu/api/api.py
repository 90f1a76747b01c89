"""The REST API: token (`Authorization: Bearer …`) or console-session auth, OpenAPI at /api/docs and
/api/openapi.json, an `Idempotency-Key` on every write. Errors are JSON: {"detail": "…"}."""

from ninja import NinjaAPI

from siyu.api.auth import auth, auth_for
from siyu.api.scopes import AREAS
from siyu.core.errors import NotFound as DomainNotFound
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.customers.errors import CustomerNotFound
from siyu.engagement.errors import ContentNotFound, JourneyNotFound, TaskNotFound
from siyu.segments.errors import NotFound
from siyu.staff.roles import declared_roles
from siyu.warehouse import WarehouseBusy


class SiyuAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Every authenticated route may also answer 401 (no, a wrong or an expired token), 403 (the token
        lacks the route's scope) and 429 (this address sent too many wrong tokens): the auth says so before
        the route runs, so the schema of each route says so too."""
        schema = super().get_openapi_schema(*args, **kwargs)
        detail = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
        error = {"content": {"application/json": {"schema": detail}}}
        texts = {"401": "Not signed in, or the token is wrong or expired", "403": "Not allowed",
                 "429": "Too many wrong API tokens from this address; try again later"}  # fmt: skip
        for methods in schema.get("paths", {}).values():
            for operation in methods.values():
                if isinstance(operation, dict) and operation.get("security"):
                    responses = operation.setdefault("responses", {})
                    for status, text in texts.items():
                        responses.setdefault(status, {"description": text, **error})
        return schema


api = SiyuAPI(
    title="Siyu API",
    version="1",
    docs_url="/docs",
    auth=auth,
    description=(
        "Customers, tags, traits, segments, orders and events of a Siyu installation. Authenticate with "
        "`Authorization: Bearer <token>` (an admin creates one on the console's API tokens page or with `siyu token create USER --scope AREA:read|write --expires-in 90d`). A token's scopes name the areas it may read or change (`customers:read`, `privacy:write`, `*` for all; write includes read); an expired token gets 401, a token without the route's scope 403, both before the body is read; the token's user's role still applies. An address that sends too many wrong tokens gets 429 for a while. Every POST/DELETE needs an "
        "`Idempotency-Key` header: a retry with the same key and body returns the first response; the same key "
        "with another body is refused with 409. A key is remembered for 24 hours (SIYU_IDEMPOTENCY_KEY_TTL_HOURS). "
        "While the database does not answer, every request gets 503 with `Retry-After`: resend the same body with "
        "the same key (a 409 \"still being processed\" meanwhile means the first attempt's outcome is being "
        "recorded; the resend then gets the first response)."
    ),
)


def _error(status):
    def handler(request, exc):
        return api.create_response(request, {"detail": str(exc)}, status=status)

    return handler


api.add_exception_handler(PermissionDenied, _error(403))
api.add_exception_handler(CustomerNotFound, _error(404))
api.add_exception_handler(NotFound, _error(404))
api.add_exception_handler(ContentNotFound, _error(404))
api.add_exception_handler(TaskNotFound, _error(404))
api.add_exception_handler(JourneyNotFound, _error(404))
api.add_exception_handler(DomainNotFound, _error(404))  # a live code, a group, a rule, a handover…
api.add_exception_handler(WarehouseBusy, _error(503))
api.add_exception_handler(SiyuError, _error(400))

from siyu.acquisition.api import router as acquisition_router  # noqa: E402
from siyu.analytics.api import router as analytics_router  # noqa: E402
from siyu.api.customers import router as customers_router  # noqa: E402
from siyu.api.ingest import router as ingest_router  # noqa: E402
from siyu.api.tokens import router as tokens_router  # noqa: E402
from siyu.community.archive.api import router as archive_router  # noqa: E402
from siyu.community.groups.api import router as groups_router  # noqa: E402
from siyu.community.handover.api import router as handover_router  # noqa: E402
from siyu.engagement.content.api import router as content_router  # noqa: E402
from siyu.engagement.guides.api import router as task_router  # noqa: E402
from siyu.engagement.journeys.api import router as journeys_router  # noqa: E402
from siyu.engagement.messaging.api import router as engagement_router  # noqa: E402
from siyu.engagement.messaging.settings_api import router as messaging_settings_router  # noqa: E402
from siyu.identity.api import router as identity_router  # noqa: E402
from siyu.integrations.api import router as integrations_router  # noqa: E402
from siyu.loyalty.checkin.api import router as checkin_router  # noqa: E402
from siyu.loyalty.coupons.api import router as coupons_router  # noqa: E402
from siyu.loyalty.earning.api import router as earning_router  # noqa: E402
from siyu.loyalty.mall.api import router as mall_router  # noqa: E402
from siyu.loyalty.points.api import router as points_router  # noqa: E402
from siyu.loyalty.tiers.api import router as tiers_router  # noqa: E402
from siyu.privacy.api import router as privacy_router  # noqa: E402
from siyu.segments.api import router as segments_router  # noqa: E402
from siyu.segments.prediction_api import router as predictions_router  # noqa: E402
from siyu.segments.traits_api import router as traits_router  # noqa: E402
from siyu.surveys.api import router as surveys_router  # noqa: E402


def mount(area: str | None, router) -> None:
    """Mount a domain's router under an area of siyu.api.scopes: its routes take a token with that area's
    scope (or a console session). A route that declares its roles (@roles, siyu.staff.roles) refuses every
    other role in the same authentication, before its body is read. Area None: outside every area, open
    only to a console session or a token with every scope (`*`)."""
    assert area is None or area in AREAS, f"add the area {area!r} to siyu.api.scopes.AREAS"
    for path_view in router.path_operations.values():
        for operation in path_view.operations:
            roles = declared_roles(operation.view_func)
            if roles is not None:
                operation.auth_param = auth_for(area, roles)
                operation._set_auth(operation.auth_param)
    api.add_router("", router, auth=auth_for(area))


mount("customers", customers_router)
mount("ingest", ingest_router)
mount("identity", identity_router)
mount("integrations", integrations_router)
mount("segments", traits_router)
mount("segments", predictions_router)
mount("analytics", analytics_router)
mount("segments", segments_router)
mount("engagement", engagement_router)
mount("engagement", messaging_settings_router)
mount("engagement", journeys_router)
mount("engagement", content_router)
mount("engagement", task_router)
mount("acquisition", acquisition_router)
mount("community", groups_router)
mount("community", archive_router)
mount("community", handover_router)
mount("loyalty", points_router)
mount("loyalty", coupons_router)
mount("loyalty", tiers_router)
mount("loyalty", earning_router)
mount("loyalty", checkin_router)
mount("loyalty", mall_router)
mount("surveys", surveys_router)
mount("privacy", privacy_router)
mount(None, tokens_router)
