"""The Staff page: practice admins invite people, change roles, deactivate and reactivate accounts;
and the invitee's page, where an invitation becomes an account.

The writes are services: practice.services (invitations, roles, the membership)
and appointments.services.clinician_deactivate (handing work over, then
deactivating, in one transaction). Like the Audit page, this page reads
from the apps above practice (sessions, clients, messages) to show an admin
what a deactivation will touch.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from appointments import services as appointment_services
from followups.models import OutboxMessage

from . import ratelimit, services
from .access import membership_required
from .forms import InvitationAcceptForm, RoleFields, StaffInviteForm
from .models import Membership, StaffInvitation
from .signin import client_address

BAD_LINK_LIMIT = 20
BAD_LINK_WINDOW = 60 * 60


def _posted(request: HttpRequest):
    """The form data on a POST (even an empty one, which is still a submission), None on a GET."""
    return request.POST if request.method == "POST" else None


def _add_service_error(form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _members(practice):
    return Membership.objects.filter(practice=practice).select_related("user").order_by("-is_active", "user__username")


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def staff_list(request: HttpRequest) -> HttpResponse:
    """Everyone in the practice, the invitations still pending, and the form to invite someone."""
    practice = request.membership.practice
    form = StaffInviteForm(_posted(request), initial={"role": Membership.Role.CLINICIAN})
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_invite(practice=practice, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("staff")
    invitations = StaffInvitation.objects.filter(
        practice=practice, accepted_at=None, withdrawn_at=None, expires_at__gt=timezone.now()
    ).order_by("email")
    return render(
        request, "practice/staff.html", {"form": form, "members": _members(practice), "invitations": invitations}
    )


@require_POST
@membership_required(admin_only=True)
def staff_invitation_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(StaffInvitation, practice=request.membership.practice, pk=pk)
    if services.staff_invitation_withdraw(invitation=invitation, actor=request.user):
        messages.success(request, f"Invitation to {invitation.email} withdrawn: its link no longer works.")
    else:
        messages.info(request, "That invitation was already used or withdrawn.")
    return redirect("staff")


def _member(request, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "practice"), practice=request.membership.practice, pk=pk
    )


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def staff_member(request: HttpRequest, pk: int) -> HttpResponse:
    """One member: their role, and the ways to deactivate or reactivate them."""
    member = _member(request, pk)
    form = RoleFields(_posted(request), initial={"role": member.role, "is_clinician": member.is_clinician})
    if request.method == "POST" and form.is_valid():
        try:
            appointment_services.staff_role_change(membership=member, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, "Role saved.")
            return redirect("staff_member", pk=member.pk)
    return render(
        request,
        "practice/staff_member.html",
        {"member": member, "form": form, "is_self": member.user_id == request.user.pk},
    )


class DeactivateForm(forms.Form):
    """One choice per upcoming session (another clinician, or cancel), and who takes the clients."""

    def __init__(self, *args, caseload, clinicians, **kwargs):
        super().__init__(*args, **kwargs)
        self.caseload = caseload
        self.clinicians = {str(u.pk): u for u in clinicians}
        people = [(str(u.pk), u.get_full_name() or u.username) for u in clinicians]
        self.session_fields = []
        for appointment in caseload.upcoming:
            name = f"session_{appointment.pk}"
            when = timezone.localtime(appointment.start)
            self.fields[name] = forms.ChoiceField(
                label=f"{when:%a %d %b %Y %H:%M} · {appointment.client.full_name}",
                choices=[("", "Choose…"), *people, (appointment_services.CANCEL, "Cancel the session")],
            )
            self.session_fields.append((appointment, name))
        if caseload.clients:
            self.fields["clients_to"] = forms.ChoiceField(
                label=f"Who takes over their {len(caseload.clients)} client(s)", choices=[("", "Choose…"), *people]
            )

    @property
    def session_rows(self):
        return [(appointment, self[name]) for appointment, name in self.session_fields]

    def service_arguments(self) -> dict:
        sessions = {}
        for appointment, name in self.session_fields:
            value = self.cleaned_data[name]
            sessions[appointment.pk] = (
                appointment_services.CANCEL if value == appointment_services.CANCEL else self.clinicians[value]
            )
        clients_to = self.cleaned_data.get("clients_to")
        return {"sessions": sessions, "clients_to": self.clinicians[clients_to] if clients_to else None}


def _pending_messages(member: Membership):
    """Messages not yet sent to this clinician's clients, or about their sessions."""
    return (
        OutboxMessage.objects.filter(
            practice_id=member.practice_id,
            status__in=(OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING),
        )
        .filter(Q(client__clinician_id=member.user_id) | Q(missed_session__appointment__clinician_id=member.user_id))
        .select_related("client")
        .order_by("due_at", "id")
    )


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def staff_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """First shows what the member still holds; the admin chooses where each piece goes, then deactivates."""
    member = _member(request, pk)
    if not member.is_active:
        messages.info(request, "This account is already deactivated.")
        return redirect("staff_member", pk=member.pk)
    caseload = appointment_services.clinician_caseload(membership=member)
    clinicians = (
        get_user_model()
        .objects.filter(membership__practice=member.practice, membership__is_active=True, membership__is_clinician=True)
        .exclude(pk=member.user_id)
        .order_by("first_name", "last_name", "username")
    )
    form = DeactivateForm(_posted(request), caseload=caseload, clinicians=list(clinicians))
    if request.method == "POST" and form.is_valid():
        try:
            handover = appointment_services.clinician_deactivate(
                membership=member, actor=request.user, **form.service_arguments()
            )
        except ValidationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, f"{member.user.get_full_name() or member.user.username} is deactivated.")
            return render(request, "practice/staff_deactivated.html", {"member": member, "handover": handover})
    return render(
        request,
        "practice/staff_deactivate.html",
        {
            "member": member,
            "form": form,
            "caseload": caseload,
            "pending": list(_pending_messages(member)[:50]),
            "is_self": member.user_id == request.user.pk,
        },
    )


@require_POST
@membership_required(admin_only=True)
def staff_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    services.membership_reactivate(membership=member, actor=request.user)
    messages.success(request, f"{member.user.get_full_name() or member.user.username} can sign in again.")
    return redirect("staff_member", pk=member.pk)


# ------------------------------------------------------------- the invitee


def _bad_link(request: HttpRequest, *, count: bool) -> HttpResponse:
    """The kind page. Only unknown tokens count towards the limit, as for client links."""
    if count:
        ratelimit.hit(f"invitation-bad:{client_address(request)}", BAD_LINK_WINDOW)
    return render(request, "registration/invitation_unusable.html", {}, status=404)


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def staff_invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the form and changes nothing (mail scanners open links); POST creates the account."""
    if ratelimit.count(f"invitation-bad:{client_address(request)}") >= BAD_LINK_LIMIT:
        return render(request, "registration/invitation_unusable.html", {"too_many": True}, status=429)
    invitation = services.staff_invitation_find(token=token)
    if invitation is None:
        known = len(token) <= 100 and StaffInvitation.objects.filter(token_hash=services.token_hash(token)).exists()
        return _bad_link(request, count=not known)
    form = InvitationAcceptForm(_posted(request), initial={"username": invitation.email})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.staff_invitation_accept(
                token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except services.InvitationUnusable:
            return _bad_link(request, count=False)
        except ValidationError as exc:
            _add_service_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            # The sign-in middleware sends an admin (or anyone, if the practice asks) to set up two factors first.
            return redirect("appointments:today")
    return render(
        request, "registration/invitation_accept.html", {"invitation": invitation, "form": form, "signing_in": True}
    )
