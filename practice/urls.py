from django.contrib import admin
from django.urls import include, path

from . import signin, views

urlpatterns = [
    path("accounts/login/", signin.LoginView.as_view(), name="login"),
    path("accounts/password_reset/", signin.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz/", views.healthz, name="healthz"),
    path("audit/", views.audit_log, name="audit"),
    path("settings/", views.practice_settings, name="practice_settings"),
    path("", include("policies.urls")),
    path("", include("followups.urls")),
    path("", include("imports.urls")),
    path("", include("appointments.urls")),
]

handler404 = "practice.views.not_found"
handler500 = "practice.views.server_error"
