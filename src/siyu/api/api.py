"""The REST API: token (`Authorization: Bearer …`) or console-session auth, OpenAPI at /api/docs and
/api/openapi.json, an `Idempotency-Key` on every write. Errors are JSON: {"detail": "…"}."""

from ninja import NinjaAPI

from siyu.api.auth import auth
from siyu.core.errors import NotFound as DomainNotFound
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.customers.errors import CustomerNotFound
from siyu.engagement.errors import ContentNotFound, JourneyNotFound, TaskNotFound
from siyu.segments.errors import NotFound
from siyu.warehouse import WarehouseBusy

api = NinjaAPI(
    title="Siyu API",
    version="1",
    docs_url="/docs",
    auth=auth,
    description=(
        "Customers, tags, traits, segments, orders and events of a Siyu installation. Authenticate with "
        "`Authorization: Bearer <token>` (create one with `siyu createtoken NAME`). Every POST/DELETE needs an "
        "`Idempotency-Key` header: a retry with the same key and body returns the first response; the same key "
        "with another body is refused with 409. A key is remembered for 24 hours (SIYU_IDEMPOTENCY_KEY_TTL_HOURS)."
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
from siyu.community.archive.api import router as archive_router  # noqa: E402
from siyu.community.groups.api import router as groups_router  # noqa: E402
from siyu.community.handover.api import router as handover_router  # noqa: E402
from siyu.engagement.content.api import router as content_router  # noqa: E402
from siyu.engagement.guides.api import router as task_router  # noqa: E402
from siyu.engagement.journeys.api import router as journeys_router  # noqa: E402
from siyu.engagement.messaging.api import router as engagement_router  # noqa: E402
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

api.add_router("", customers_router)
api.add_router("", ingest_router)
api.add_router("", identity_router)
api.add_router("", integrations_router)
api.add_router("", traits_router)
api.add_router("", predictions_router)
api.add_router("", analytics_router)
api.add_router("", segments_router)
api.add_router("", engagement_router)
api.add_router("", journeys_router)
api.add_router("", content_router)
api.add_router("", task_router)
api.add_router("", acquisition_router)
api.add_router("", groups_router)
api.add_router("", archive_router)
api.add_router("", handover_router)
api.add_router("", points_router)
api.add_router("", coupons_router)
api.add_router("", tiers_router)
api.add_router("", earning_router)
api.add_router("", checkin_router)
api.add_router("", mall_router)
api.add_router("", surveys_router)
api.add_router("", privacy_router)
