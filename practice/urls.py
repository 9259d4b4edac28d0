from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz/", views.healthz, name="healthz"),
    path("settings/", views.practice_settings, name="practice_settings"),
    path("", include("policies.urls")),
    path("", include("followups.urls")),
    path("", include("appointments.urls")),
]

handler404 = "practice.views.not_found"
handler500 = "practice.views.server_error"
