"""Import: upload → preview with mapping and every row's problems → import → counts. Admins only."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from practice.access import membership_required

from . import parsing, selectors, services
from .access import get_upload_for_user
from .forms import MappingForm, UploadForm
from .models import ImportUpload

# The preview lists every row with a problem or skipped, and this many of the rows that are ready.
READY_SHOWN = 50


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def import_start(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            created = services.import_upload_create(
                practice=request.membership.practice,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                filename=upload.name or "",
                data=upload.read(parsing.MAX_BYTES + 1),
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        else:
            return redirect("imports:preview", pk=created.pk)
    return render(request, "imports/start.html", {"form": form})


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_upload_for_user(request, pk)
    if upload.imported_at is not None or upload.requested_at is not None:
        return redirect("imports:done", pk=upload.pk)
    clinicians = selectors.clinicians_of(upload.practice)
    form = MappingForm(request.POST or None, upload=upload, clinicians=clinicians)
    if request.method == "POST" and form.is_valid():
        mapping = form.mapping()
        default_clinician = (
            form.cleaned_data.get("default_clinician")
            if "default_clinician" in form.fields
            else upload.default_clinician
        )
        changed = mapping != upload.mapping or default_clinician != upload.default_clinician
        services.import_mapping_set(upload=upload, mapping=mapping, default_clinician=default_clinician)
        if request.POST.get("action") != "import":
            return redirect("imports:preview", pk=upload.pk)
        if changed:
            # Import only what the person has seen checked.
            messages.warning(
                request, "The columns changed, so the rows were checked again. Look them over, then import."
            )
            return redirect("imports:preview", pk=upload.pk)
        try:
            services.import_request(upload=upload, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("imports:done", pk=upload.pk)
    found = selectors.preview(upload=upload, default_clinician=upload.default_clinician)
    shown_ready = found.ready[:READY_SHOWN]
    return render(
        request,
        "imports/preview.html",
        {
            "upload": upload,
            "form": form,
            "counts": found.counts(),
            "problem_rows": found.with_problems,
            "duplicate_rows": found.duplicates,
            "ready_rows": shown_ready,
            "ready_hidden": len(found.ready) - len(shown_ready),
            "is_clients": upload.kind == ImportUpload.Kind.CLIENTS,
            "missing": parsing.missing_columns(upload.kind, upload.mapping),
        },
    )


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def import_done(request: HttpRequest, pk: int) -> HttpResponse:
    """The import's progress, then its counts. htmx polls this while the worker imports.

    A POST asks for the import again (offered when a request looks lost).
    """
    upload = get_upload_for_user(request, pk)
    if request.method == "POST" and upload.imported_at is None and upload.requested_at is not None:
        upload = services.import_request(upload=upload, actor=request.user)
    if upload.imported_at is None and upload.requested_at is None:
        # Not asked for, or the attempt failed: the preview says why.
        if request.htmx:
            return HttpResponseClientRedirect(reverse("imports:preview", args=[upload.pk]))
        return redirect("imports:preview", pk=upload.pk)
    context = {
        "upload": upload,
        "result": upload.result,
        "stale": upload.imported_at is None and timezone.now() - upload.requested_at > services.STALE_REQUEST,
    }
    template = "imports/done.html#status" if request.htmx else "imports/done.html"
    return render(request, template, context)
