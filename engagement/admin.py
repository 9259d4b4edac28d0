from django.contrib import admin

from practice.admin import PracticeScopedAdmin

from .models import CheckInTask

# ReflectionNote is deliberately not registered: a note is for its author and
# the practice's admins, read on the client page where every view is audited.


@admin.register(CheckInTask)
class CheckInTaskAdmin(PracticeScopedAdmin):
    """Read-only: tasks are written by the after-miss pipeline and closed on the check-in page."""

    list_display = ["client", "clinician", "title", "created_at", "done_at", "cancelled_at"]
