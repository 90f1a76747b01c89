"""The member centre's URLs, mounted at /m/ by siyu.project.urls (namespace `members`)."""

from django.urls import path

from siyu.members import views

app_name = "members"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("auth/wechat/", views.wechat_start, name="wechat"),
    path("auth/wechat/callback/", views.wechat_callback, name="wechat_callback"),
    path("auth/link/", views.link, name="link"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/consent/", views.privacy_consent, name="privacy_consent"),
    path("privacy/request/", views.privacy_request, name="privacy_request"),
]
