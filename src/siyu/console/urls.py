from django.contrib.auth import views as auth_views
from django.urls import include, path

from siyu.console.views import customers, dashboard, imports
from siyu.identity import views as identity
from siyu.segments.prediction_views import predictions_page

app_name = "console"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="siyu/console/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", customers.customer_list, name="customers"),
    path("customers/bulk-tags/", customers.bulk_tags, name="bulk_tags"),
    path("customers/<int:customer_id>/", customers.customer_profile, name="customer"),
    path("customers/<int:customer_id>/tags/", customers.customer_tag, name="customer_tag"),
    path("customers/<int:customer_id>/notes/", customers.customer_note, name="customer_note"),
    path("customers/<int:customer_id>/consent/", customers.customer_consent, name="customer_consent"),
    path("customers/<int:customer_id>/owner/", customers.customer_owner, name="customer_owner"),
    path("customers/<int:customer_id>/identity/", identity.customer_identity, name="customer_identity"),
    path("identity/review/", identity.review_queue, name="identity_review"),
    path("identity/decide/", identity.decide, name="identity_decide"),
    path("identity/decide-rule/", identity.decide_rule, name="identity_decide_rule"),
    path("identity/quarantine/", identity.quarantine_list, name="identity_quarantine"),
    path("import/", imports.import_page, name="import"),
    path("import/resolve/", imports.resolve, name="resolve"),
    path("jobs/", imports.job_list, name="jobs"),
    path("jobs/<uuid:job_id>/", imports.job_detail, name="job"),
    path("jobs/<uuid:job_id>/progress/", imports.job_progress, name="job_progress"),
    path("jobs/<uuid:job_id>/rejected.csv", imports.rejected_rows, name="job_rejected"),
    path("analytics/", include("siyu.analytics.urls")),
    path("segments/", include("siyu.segments.urls")),
    path("predictions/", predictions_page, name="predictions"),
    path("engagement/", include("siyu.engagement.urls")),
    path("acquisition/", include("siyu.acquisition.urls")),
    path("community/", include("siyu.community.urls")),
    path("loyalty/", include("siyu.loyalty.urls")),
    path("surveys/", include("siyu.surveys.urls")),
    path("privacy/", include("siyu.privacy.urls")),
    path("settings/integrations/", include("siyu.integrations.urls")),
]
