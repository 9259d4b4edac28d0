from django import forms

from practice.formfields import FastWidgets

from . import templating, wording_check
from .models import FollowUpPlan, MessageTemplate, MissReason, OutboxMessage, ReminderPlan

NUMBER_ERRORS = {"invalid": "Enter a whole number."}


class PlanForm(forms.ModelForm):
    # Drawn with {% bs_fields %} on the Policies page, not by crispy (issue 11).
    default_renderer = FastWidgets()

    class Meta:
        model = FollowUpPlan
        fields = [
            "enabled",
            "first_delay_minutes",
            "second_after_days",
            "quiet_start",
            "quiet_end",
            "mention_exercises",
            "link_days",
            "max_attempts",
        ]
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}),
        }
        error_messages = dict.fromkeys(fields, NUMBER_ERRORS)


class ReminderPlanForm(forms.ModelForm):
    default_renderer = FastWidgets()

    class Meta:
        model = ReminderPlan
        fields = [
            "enabled",
            "first_hours",
            "first_channel",
            "second_hours",
            "second_channel",
            "third_hours",
            "third_channel",
        ]
        error_messages = dict.fromkeys(fields, NUMBER_ERRORS)

    def clean(self):
        data = super().clean()
        hours = [data.get(name) for name in ("first_hours", "second_hours", "third_hours") if data.get(name)]
        if len(set(hours)) != len(hours):
            raise forms.ValidationError("Two reminders at the same time would send the client two messages at once.")
        return data


class TemplateForm(forms.Form):
    kind = forms.ChoiceField(choices=MessageTemplate.Kind.choices, widget=forms.HiddenInput)
    subject = forms.CharField(max_length=120)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), max_length=3000)

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        # The kind in the address, not the hidden field: rules must not be picked by the poster.
        self.kind = kind
        self.warnings: tuple[wording_check.Finding, ...] = ()

    def clean_subject(self):
        # The subject becomes a mail header: a line break would start a header of its own.
        subject = self.cleaned_data["subject"]
        if "\r" in subject or "\n" in subject:
            raise forms.ValidationError("Keep the subject on one line.")
        return subject

    def clean(self):
        data = super().clean()
        if "subject" in data and "body" in data:
            # add_error takes "body" out of cleaned_data: read both first.
            subject, body = data["subject"], data["body"]
            for problem in templating.check_template(subject=subject, body=body, kind=self.kind):
                self.add_error("body", problem)
            report = wording_check.check(kind=self.kind, subject=subject, body=body)
            for error in report.errors:
                self.add_error("body", str(error))
            self.warnings = report.warnings
        return data


class RescheduleForm(forms.Form):
    slot = forms.CharField(error_messages={"required": "Pick one of the times."})
    reason = forms.ChoiceField(
        label="What got in the way? (optional)",
        choices=[("", "I'd rather not say"), *MissReason.Reason.choices],
        required=False,
        widget=forms.RadioSelect,
    )
    text = forms.CharField(
        label="Anything you'd like us to know? (optional)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CantMakeItForm(forms.Form):
    """ "I can't make it": what got in the way (optional), and which terms the page showed."""

    # "1" when the page said the session is inside the notice window: if that changed since, the
    # client sees the new terms before anything happens.
    late = forms.TypedChoiceField(choices=[("0", "0"), ("1", "1")], coerce=lambda value: value == "1")
    reason = RescheduleForm.base_fields["reason"]
    text = RescheduleForm.base_fields["text"]


class MoveSlotForm(forms.Form):
    slot = forms.CharField(max_length=40, error_messages={"required": "Pick one of the times."})


class MessageFilterForm(forms.Form):
    default_renderer = FastWidgets()  # issue 11: Django's widget HTML without its templates
    status = forms.ChoiceField(choices=[("", "Any status"), *OutboxMessage.Status.choices], required=False)
