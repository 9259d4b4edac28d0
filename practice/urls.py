from django.contrib import admin
from django.urls import include, path

from . import signin, staff_views, views

urlpatterns = [
    path("accounts/login/", signin.LoginView.as_view(), name="login"),
    path("accounts/password_reset/", signin.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("accounts/invitation/<str:token>/", staff_views.staff_invitation_accept, name="staff_invitation"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz/", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("audit/", views.audit_log, name="audit"),
    path("staff/", staff_views.staff_list, name="staff"),
    path("staff/<int:pk>/", staff_views.staff_member, name="staff_member"),
    path("staff/<int:pk>/deactivate/", staff_views.staff_deactivate, name="staff_deactivate"),
    path("staff/<int:pk>/reactivate/", staff_views.staff_reactivate, name="staff_reactivate"),
    path(
        "staff/invitations/<int:pk>/withdraw/", staff_views.staff_invitation_withdraw, name="staff_invitation_withdraw"
    ),
    path("settings/", views.practice_settings, name="practice_settings"),
    path("", include("policies.urls")),
    path("", include("followups.urls")),
    path("", include("engagement.urls")),
    path("", include("waitlist.urls")),
    path("", include("imports.urls")),
    path("", include("insights.urls")),
    path("", include("appointments.urls")),
]

handler404 = "practice.views.not_found"
handler500 = "practice.views.server_error"
