from django.contrib import admin

from practice.admin import PracticeScopedAdmin

from .models import Appointment, AppointmentSeries, Availability, Client, NoShowEvent


@admin.register(Client)
class ClientAdmin(PracticeScopedAdmin):
    list_display = ["last_name", "first_name", "clinician", "preferred_channel", "is_archived"]
    list_filter = ["is_archived", "needs_safety_check", "preferred_channel"]
    search_fields = ["first_name", "last_name", "email"]


@admin.register(Appointment)
class AppointmentAdmin(PracticeScopedAdmin):
    """Read-only: bookings, moves and outcomes go through the schedule's services."""

    list_display = ["start", "client", "clinician", "session_type", "status"]
    list_filter = ["status", "session_type", "modality"]
    date_hierarchy = "start"


@admin.register(AppointmentSeries)
class AppointmentSeriesAdmin(PracticeScopedAdmin):
    """Read-only: series are booked on the Book page."""

    list_display = ["client", "clinician", "weeks", "created_at"]


@admin.register(NoShowEvent)
class NoShowEventAdmin(PracticeScopedAdmin):
    """Read-only: missed-session records are written by the schedule's services."""

    list_display = ["appointment", "kind", "recorded_at", "processed_at", "undone_at"]
    list_filter = ["kind"]


@admin.register(Availability)
class AvailabilityAdmin(PracticeScopedAdmin):
    """Read-only: the Availability page edits windows through the service that refuses overlaps."""

    list_display = [
        "clinician",
        "weekday",
        "start_time",
        "end_time",
        "session_minutes",
        "buffer_minutes",
        "grid_minutes",
    ]
    list_filter = ["weekday"]
