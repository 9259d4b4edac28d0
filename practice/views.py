import django_otp
from django import forms
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from . import two_factor
from .http import safe_next
from .services import audit_record


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


# ------------------------------------------------------------ two factors


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Scan the QR code (or type the key), then prove it with a code; recovery codes are shown once."""
    user = request.user
    if two_factor.has_device(user) and not user.is_verified():
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': safe_next(request, '')})}")
    device = two_factor.enrollment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        membership = getattr(request, "membership", None)
        codes = two_factor.enrollment_confirm(
            user=user,
            device=device,
            token=form.cleaned_data["code"],
            practice=membership.practice if membership else None,
        )
        if codes is not None:
            django_otp.login(request, device)
            return render(
                request,
                "registration/two_factor_codes.html",
                {"codes": codes, "next": safe_next(request, reverse("appointments:today")), "signing_in": True},
            )
        form.add_error("code", "That code did not match. Check the time on your phone and try the newest code.")
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr": two_factor.qr_code_data_uri(device),
            "secret": two_factor.secret_for_typing(device),
            "next": safe_next(request, ""),
            "replacing": two_factor.has_device(user),
            "signing_in": True,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app, or one recovery code."""
    user = request.user
    target = safe_next(request, reverse("appointments:today"))
    if user.is_verified():
        return redirect(target)
    if not two_factor.has_device(user):
        return redirect(f"{reverse('two_factor_setup')}?{urlencode({'next': target})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify(user=user, token=form.cleaned_data["code"])
        membership = getattr(request, "membership", None)
        if device is not None:
            django_otp.login(request, device)
            if membership is not None:
                audit_record(
                    practice=membership.practice,
                    actor=user,
                    action="account.second_factor_passed",
                    obj=membership,
                    changes={"with": "recovery code" if device.name == two_factor.RECOVERY_DEVICE_NAME else "app"},
                )
            return redirect(target)
        if membership is not None:
            audit_record(
                practice=membership.practice, actor=user, action="account.second_factor_failed", obj=membership
            )
        form.add_error("code", "That code did not work. Wait for a new code and try again, or use a recovery code.")
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": target, "signing_in": True})
