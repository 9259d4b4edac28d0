from django.urls import path

from . import views

app_name = "appointments"

urlpatterns = [
    path("", views.today, name="today"),
    path("week/", views.week, name="week"),
    path("needs-outcome/", views.needs_outcome, name="needs_outcome"),
    path("appointments/new/", views.appointment_book, name="appointment_book"),
    path("appointments/<int:pk>/", views.appointment_edit, name="appointment_edit"),
    path("appointments/<int:pk>/row/", views.appointment_row, name="appointment_row"),
    path("appointments/<int:pk>/outcome/", views.appointment_outcome, name="appointment_outcome"),
    path("appointments/<int:pk>/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path("appointments/<int:pk>/undo/", views.appointment_undo, name="appointment_undo"),
    path("appointments/<int:pk>/correct/", views.appointment_correct, name="appointment_correct"),
    path("appointments/<int:pk>/makeup/", views.appointment_makeup, name="appointment_makeup"),
    path("series/<int:pk>/", views.series_detail, name="series_detail"),
    path("availability/", views.availability, name="availability"),
    path("availability/<int:pk>/remove/", views.availability_remove, name="availability_remove"),
    path("clients/", views.client_list, name="client_list"),
    path("clients/new/", views.client_create, name="client_create"),
    path("clients/<int:pk>/", views.client_detail, name="client_detail"),
    path("clients/<int:pk>/edit/", views.client_edit, name="client_edit"),
]
