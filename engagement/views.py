"""A client's engagement (reflection notes), the ladder's check-ins, and Policies → Repeated misses."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from appointments.access import get_client_for_user
from policies import selectors as policy_selectors
from policies import services as policy_services
from policies.models import EscalationStep
from practice.access import membership_required
from practice.http import add_service_error
from practice.services import audit_access

from . import selectors, services
from .forms import CheckInDoneForm, EscalationStepForm, NoteEditForm, ReflectionNoteForm
from .models import CheckInTask, ReflectionNote


def _client_notes_url(client_pk: int) -> str:
    return reverse("appointments:client_detail", args=[client_pk]) + "#reflection-notes"


@require_POST
@membership_required
def reflection_note_add(request: HttpRequest, client_pk: int) -> HttpResponse:
    membership = request.membership
    client = get_client_for_user(request, client_pk)
    if not (membership.is_admin or membership.is_clinician):
        messages.error(request, "Only clinicians and practice admins write reflection notes.")
        return redirect(_client_notes_url(client.pk))
    form = ReflectionNoteForm(request.POST, misses=selectors.misses_for_notes(client=client))
    if form.is_valid():
        try:
            services.reflection_note_create(
                membership=membership,
                client=client,
                text=form.cleaned_data["text"],
                missed_session=form.cleaned_data["missed_session"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Note saved. Only you and practice admins can read it.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(_client_notes_url(client.pk))


@require_http_methods(["GET", "POST"])
@membership_required
def reflection_note_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The author reads and changes their note; an admin reads it. Anyone else: 404."""
    membership = request.membership
    note = get_object_or_404(
        ReflectionNote.objects.for_membership(membership).select_related("client", "author"), pk=pk
    )
    can_edit = note.author_id == membership.user_id
    form = NoteEditForm(request.POST or None, initial={"text": note.text})
    if request.method == "POST":
        if not can_edit:
            messages.error(request, "Only the clinician who wrote this note can change it.")
            return redirect("engagement:note", pk=note.pk)
        if form.is_valid():
            try:
                services.reflection_note_update(membership=membership, note=note, text=form.cleaned_data["text"])
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "Note saved.")
                return redirect(_client_notes_url(note.client_id))
    else:
        audit_access(request=request, action="reflection_note.viewed", obj=note)
    return render(request, "engagement/note.html", {"note": note, "form": form, "can_edit": can_edit})


@require_http_methods(["GET", "POST"])
@membership_required
def checkin(request: HttpRequest, pk: int) -> HttpResponse:
    """One check-in task: the suggested script, and "Record what I did". The clinician's own, or an admin's."""
    membership = request.membership
    task = get_object_or_404(
        CheckInTask.objects.for_membership(membership).select_related(
            "client", "clinician", "done_by", "missed_session__appointment"
        ),
        pk=pk,
    )
    form = CheckInDoneForm(request.POST or None, initial={"script": task.script})
    if request.method == "POST" and task.is_open and form.is_valid():
        try:
            services.checkin_task_complete(
                membership=membership,
                task=task,
                what_was_done=form.cleaned_data["what_was_done"],
                script=form.cleaned_data["script"],
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Recorded. The check-in with {task.client.full_name} is done.")
            return redirect("appointments:today")
    elif request.method == "POST" and not task.is_open:
        messages.info(request, "This check-in was already closed; nothing changed.")
        return redirect("engagement:checkin", pk=task.pk)
    if request.method == "GET":
        audit_access(request=request, action="checkin.viewed", obj=task)
    return render(request, "engagement/checkin.html", {"task": task, "form": form})


# ---------------------------------------------------------------- Policies → Repeated misses


def _step_for_admin(request: HttpRequest, pk: int) -> EscalationStep:
    return get_object_or_404(EscalationStep.objects.filter(practice_id=request.membership.practice_id), pk=pk)


@require_http_methods(["GET", "POST"])
@membership_required
def ladder(request: HttpRequest) -> HttpResponse:
    """Everyone on staff reads the ladder; practice admins add, change and remove steps."""
    membership = request.membership
    form = EscalationStepForm(request.POST or None)
    if request.method == "POST":
        if not membership.is_admin:
            messages.error(request, "Only practice admins can change the ladder.")
            return redirect("engagement:ladder")
        if form.is_valid():
            try:
                policy_services.escalation_step_create(
                    practice=membership.practice, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "Step added.")
                return redirect("engagement:ladder")
    steps = policy_selectors.escalation_steps(practice_id=membership.practice_id)
    return render(request, "engagement/ladder.html", {"steps": steps, "form": form})


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def ladder_step(request: HttpRequest, pk: int) -> HttpResponse:
    step = _step_for_admin(request, pk)
    form = EscalationStepForm(request.POST or None, initial=model_to_dict(step, fields=policy_services.STEP_FIELDS))
    if request.method == "POST" and form.is_valid():
        try:
            policy_services.escalation_step_update(step=step, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Step saved.")
            return redirect("engagement:ladder")
    return render(request, "engagement/ladder_step.html", {"step": step, "form": form})


@require_POST
@membership_required(admin_only=True)
def ladder_step_delete(request: HttpRequest, pk: int) -> HttpResponse:
    step = _step_for_admin(request, pk)
    policy_services.escalation_step_delete(step=step, actor=request.user)
    messages.success(request, "Step removed. Check-ins it already gave stay as they are.")
    return redirect("engagement:ladder")
