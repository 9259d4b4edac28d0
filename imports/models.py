"""An uploaded CSV waiting for its preview and confirmation, and the client IDs an import brought in."""

from django.conf import settings
from django.db import models

from appointments.models import Client
from practice.models import Practice


class ImportUpload(models.Model):
    """One uploaded file, parsed, between upload and import.

    The parsed cells are health data: they are emptied when the file is
    imported, and uploads left unimported are deleted after a day
    (imports.services.import_upload_create).
    """

    class Kind(models.TextChoices):
        CLIENTS = "clients", "Clients"
        SESSIONS = "sessions", "Booked sessions"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    filename = models.CharField(max_length=255, blank=True)
    headers = models.JSONField(default=list)
    rows = models.JSONField(default=list)
    # Spreadsheet row numbers of `rows` (the header is row 1).
    numbers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    default_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the admin confirms; the worker (imports.tasks.import_file) then imports.
    requested_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why the last attempt imported nothing, for the person (row numbers, never cell values).
    error = models.CharField(max_length=500, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    # Counts only: imported, duplicates, problems, rows.
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Used by imports.services.imports_requested_unstarted (the beat sweep).
            models.Index(
                fields=["requested_at"],
                condition=models.Q(imported_at__isnull=True, requested_at__isnull=False),
                name="import_requested_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import #{self.pk}"


class ImportedClientRef(models.Model):
    """The ID another system gave a client ("Client ID", "Account Number").

    A sessions file names clients by that ID; importing a clients file that
    carries it again finds the client instead of adding them twice.
    """

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=100)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practice", "external_id"], name="one_client_per_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} → client #{self.client_id}"
