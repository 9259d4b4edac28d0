from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import selectors, services
from .access import membership_required
from .forms import PracticeSettingsForm
from .models import Practice


@require_GET
def healthz(request):
    """For a load balancer: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


def not_found(request, exception=None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request) -> HttpResponse:
    return render(request, "500.html", status=500)


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def practice_settings(request: HttpRequest) -> HttpResponse:
    """Practice admins set the practice up. A new time zone is saved only after
    the admin has seen how many booked sessions will show at another local time."""
    practice = request.membership.practice
    # A copy: validating a ModelForm writes to its instance, and the request's
    # practice must keep showing what is saved until the service has saved.
    form = PracticeSettingsForm(request.POST or None, instance=Practice.objects.get(pk=practice.pk))
    zone_change = None
    if request.method == "POST" and form.is_valid():
        new_zone = str(form.cleaned_data["time_zone"])
        if new_zone != str(practice.time_zone) and request.POST.get("confirm_zone") != new_zone:
            zone_change = selectors.zone_change_preview(practice=practice, new_zone=new_zone)
        if zone_change is None or zone_change.count == 0:
            try:
                services.practice_update(practice=practice, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_service_error(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("practice_settings")
    return render(
        request,
        "practice/settings.html",
        {
            "form": form,
            "zone_change": zone_change,
            "new_zone": form.cleaned_data.get("time_zone") if zone_change else None,
        },
    )


def _add_service_error(form, exc: ValidationError) -> None:
    """Put a service's message beside the field it names, or above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
