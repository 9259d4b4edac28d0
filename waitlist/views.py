"""The Waitlist page for staff, and the client's no-login offer page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from followups import calendar
from followups.views import bad_link_response, limit_bad_links
from practice.access import membership_required
from practice.services import audit_access

from . import selectors, services
from .forms import EntryForm, PlanForm
from .models import WaitlistEntry
from .offers import when_named

PAGE_SIZE = 50


def _entry_for_user(request: HttpRequest, pk: int) -> WaitlistEntry:
    """An entry of a client this member may see, still waiting; anything else is a 404."""
    return get_object_or_404(
        WaitlistEntry.objects.for_membership(request.membership).filter(left_at__isnull=True).select_related("client"),
        pk=pk,
    )


@require_http_methods(["GET"])
@membership_required
def waitlist(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").replace("\x00", "")[:100]
    membership = request.membership
    page = Paginator(selectors.entries_for(membership=membership, search=search), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    if search:
        audit_access(request=request, action="waitlist.searched", changes={"results": page.paginator.count})
    today = timezone.localdate(timezone.now(), membership.practice.time_zone)
    if request.htmx:
        return render(request, "waitlist/waitlist.html#entries", {"page": page, "q": search, "today": today})
    context = {"page": page, "q": search, "today": today, "slots": selectors.recent_slots(membership)}
    if membership.is_admin:
        context["plan_form"] = PlanForm(instance=services.plan_of(membership.practice))
    return render(request, "waitlist/waitlist.html", context)


@require_http_methods(["GET", "POST"])
@membership_required
def entry_add(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    form = EntryForm(request.POST or None, membership=membership)
    if request.method == "POST" and form.is_valid():
        try:
            services.entry_add(practice=membership.practice, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Added to the waitlist.")
            return redirect("waitlist:waitlist")
    return render(request, "waitlist/entry_form.html", {"form": form, "entry": None})


@require_http_methods(["GET", "POST"])
@membership_required
def entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entry_for_user(request, pk)
    initial = {
        "clinicians": list(entry.clinicians.all()),
        "weekdays": entry.weekdays,
        "earliest": entry.earliest,
        "latest": entry.latest,
        "expires_on": entry.expires_on,
    }
    form = EntryForm(request.POST or None, membership=request.membership, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.entry_update(entry=entry, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Waitlist entry saved.")
            return redirect("waitlist:waitlist")
    return render(request, "waitlist/entry_form.html", {"form": form, "entry": entry})


@require_POST
@membership_required
def entry_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entry_for_user(request, pk)
    services.entry_leave(entry=entry, actor=request.user)
    messages.success(request, "Taken off the waitlist.")
    return redirect("waitlist:waitlist")


@require_http_methods(["GET"])
@membership_required
def slot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    slot = get_object_or_404(
        selectors.slots_for(request.membership).select_related("clinician", "booked__client"), pk=pk
    )
    return render(request, "waitlist/slot.html", {"slot": slot, "offers": selectors.slot_offers(slot)})


@require_POST
@membership_required(admin_only=True)
def plan_save(request: HttpRequest) -> HttpResponse:
    practice = request.membership.practice
    form = PlanForm(request.POST, instance=services.plan_for(practice))
    if form.is_valid():
        services.plan_update(practice=practice, actor=request.user, **form.cleaned_data)
        messages.success(request, "Waitlist settings saved.")
    else:
        errors = "; ".join(
            (f"{form.fields[name].label}: " if name in form.fields else "") + " ".join(errs)
            for name, errs in form.errors.items()
        )
        messages.error(request, f"Nothing was saved. {errors}")
    return redirect(reverse("waitlist:waitlist") + "#settings")


# ----------------------------------------------------------------- client


@require_http_methods(["GET", "POST"])
@limit_bad_links()
def offer(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the offered time and changes nothing (mail scanners open links); POST takes it, or leaves."""
    try:
        page = services.offer_page(token=token)
        if request.method == "POST":
            action = request.POST.get("action", "")
            if action == "take":
                page = services.offer_accept(token=token)
            elif action == "leave":
                page = services.offer_leave(token=token)
                return _offer_response(request, page, left_now=True)
            else:
                return _offer_response(request, page, error="That was not understood. Nothing was changed.")
    except services.LinkUnusable as exc:
        return bad_link_response(request, exc.practice)
    return _offer_response(request, page)


def _offer_response(request: HttpRequest, page, *, error: str = "", left_now: bool = False) -> HttpResponse:
    practice = page.slot.practice
    timezone.activate(practice.time_zone)
    context = {
        "practice": practice,
        "first_name": page.offer.entry.client.first_name,
        "state": page.state,
        "when": when_named(page.slot.start, practice),
        "held_until": timezone.localtime(page.offer.held_until, practice.time_zone),
        "waiting": page.offer.entry.left_at is None,
        "left_now": left_now,
        "error": error,
    }
    if page.appointment is not None:
        context["session"] = calendar.session_details(page.appointment)
    return render(request, "waitlist/offer.html", context, status=400 if error else 200)
