from django.contrib import admin

from practice.admin import PracticeScopedAdmin, ReadOnlyAdminMixin

from .models import Appointment, AppointmentSeries, Availability, Client, NoShowEvent


@admin.register(Client)
class ClientAdmin(PracticeScopedAdmin):
    list_display = ["last_name", "first_name", "clinician", "preferred_channel", "is_archived"]
    list_filter = ["is_archived", "needs_safety_check", "preferred_channel"]
    search_fields = ["first_name", "last_name", "email"]
    audit_action = "client.admin_changed"


@admin.register(Appointment)
class AppointmentAdmin(PracticeScopedAdmin):
    list_display = ["start", "client", "clinician", "session_type", "status"]
    list_filter = ["status", "session_type", "modality"]
    date_hierarchy = "start"
    # Outcomes go through the schedule, so that a miss starts its after-miss work.
    readonly_fields = ["status", "initiated_by", "reason_code", "status_changed_at", "status_changed_by"]
    raw_id_fields = ["client", "series", "rescheduled_from"]
    audit_action = "appointment.admin_changed"


@admin.register(AppointmentSeries)
class AppointmentSeriesAdmin(PracticeScopedAdmin):
    list_display = ["client", "clinician", "weeks", "created_at"]
    raw_id_fields = ["client"]
    readonly_fields = ["created_by"]


@admin.register(NoShowEvent)
class NoShowEventAdmin(ReadOnlyAdminMixin, PracticeScopedAdmin):
    """Read-only: missed-session records are written by the schedule's services."""

    list_display = ["appointment", "kind", "recorded_at", "processed_at", "undone_at"]
    list_filter = ["kind"]


@admin.register(Availability)
class AvailabilityAdmin(ReadOnlyAdminMixin, PracticeScopedAdmin):
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
