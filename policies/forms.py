from datetime import datetime, timedelta
from decimal import Decimal

from django import forms
from django.utils import timezone

from appointments.models import Appointment
from practice.formfields import FastWidgets
from practice.http import validate_sane_date

from . import rules
from .models import Acknowledgement, FeeAssessment, PolicyVersion
from .services import POLICY_FIELDS

MONEY_ERRORS = {
    "invalid": "Enter an amount, like 40 or 40.00.",
    "min_value": "A fee cannot be negative.",
    "max_digits": "That amount is too large.",
    "max_decimal_places": "Use at most two decimal places.",
}
NUMBER_ERRORS = {"invalid": "Enter a whole number."}


def money_field(label: str, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0"),
        max_digits=8,
        decimal_places=2,
        error_messages=MONEY_ERRORS,
    )


class PolicyForm(forms.Form):
    # Drawn by hand in templates/policies/policy.html ({% bs_field %}), not by crispy (issue 11).
    default_renderer = FastWidgets()

    effective_at = forms.DateTimeField(
        label="Takes effect",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="Sessions starting from this moment are judged by this version.",
        validators=[validate_sane_date],
    )
    notice_hours = forms.IntegerField(
        label="Notice window (hours)",
        error_messages={
            **NUMBER_ERRORS,
            "min_value": "The notice window must be at least 1 hour.",
            "max_value": "The notice window cannot be more than a year (8760 hours).",
        },
        min_value=1,
        max_value=24 * 365,
        help_text="A client cancelling less than this many hours before the start is a late cancel.",
    )
    currency = forms.CharField(max_length=3, min_length=3, initial="USD", help_text="Three letters, e.g. USD.")
    late_cancel_fee = money_field("Late-cancel fee")
    no_show_fee = money_field("No-show fee")
    grace_count = forms.IntegerField(
        label="Grace: misses not charged",
        min_value=0,
        max_value=20,
        initial=0,
        error_messages=NUMBER_ERRORS,
        help_text="The first N misses in the grace window are not charged. 0 turns it off.",
    )
    grace_days = forms.IntegerField(
        label="Grace window (days)",
        min_value=1,
        max_value=366,
        initial=90,
        error_messages=NUMBER_ERRORS,
    )
    exempt_intake = forms.BooleanField(label="Never charge for a missed intake session", required=False, initial=True)
    makeup_days = forms.IntegerField(
        label="Make-up waiver (days)",
        min_value=0,
        max_value=90,
        initial=7,
        error_messages=NUMBER_ERRORS,
        help_text="Waive the fee if the missed session is rescheduled to within this many days. 0 turns it off.",
    )
    hold_hours = forms.IntegerField(
        label="Review hold (hours)",
        min_value=0,
        max_value=24 * 30,
        initial=48,
        error_messages=NUMBER_ERRORS,
        help_text="A fee is proposed first and becomes due this many hours later unless waived. 0: due at once.",
    )
    summary = forms.CharField(
        label="A note from the practice (optional)",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Clients read it after the terms, which are written from the fields above.",
    )

    def __init__(self, *args, zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        for value, label in Appointment.SessionType.choices:
            self.fields[f"override_{value}_no_show"] = money_field(f"{label}: no-show fee", required=False)
            self.fields[f"override_{value}_late_cancel"] = money_field(f"{label}: late-cancel fee", required=False)

    def policy_fields_bound(self) -> list[forms.BoundField]:
        """The first fieldset: the terms themselves."""
        return [field for field in self if not field.name.startswith("override_")]

    def override_fields_bound(self) -> list[forms.BoundField]:
        """The second fieldset: a fee per session type."""
        return [field for field in self if field.name.startswith("override_")]

    @classmethod
    def initial_from(cls, version: PolicyVersion | None) -> dict:
        initial = {"effective_at": timezone.localtime().replace(second=0, microsecond=0, tzinfo=None)}
        if version is None:
            return {**initial, "notice_hours": 24, "late_cancel_fee": "0.00", "no_show_fee": "0.00"}
        # A new version starts from the current one, except when it takes effect.
        for name in POLICY_FIELDS:
            if name == "effective_at":
                continue
            initial[name] = getattr(version, name)
        for override in version.overrides.all():
            initial[f"override_{override.session_type}_no_show"] = override.no_show_fee
            initial[f"override_{override.session_type}_late_cancel"] = override.late_cancel_fee
        return initial

    def clean_currency(self):
        value = self.cleaned_data["currency"].upper()
        if not value.isalpha():
            raise forms.ValidationError("Use a three-letter currency code, e.g. USD.")
        return value

    def clean_effective_at(self):
        value: datetime = self.cleaned_data["effective_at"]
        naive = value.replace(tzinfo=None) if timezone.is_aware(value) else value
        try:
            aware = rules.to_utc(naive, self.zone)
        except rules.NonexistentLocalTime as exc:
            raise forms.ValidationError("That time does not exist in the practice's time zone.") from exc
        if aware < timezone.now() - timedelta(minutes=5):
            raise forms.ValidationError(
                "A new version cannot take effect in the past: clients acknowledged the version in force then."
            )
        return aware

    def overrides(self) -> dict:
        return {
            value: (
                self.cleaned_data.get(f"override_{value}_no_show"),
                self.cleaned_data.get(f"override_{value}_late_cancel"),
            )
            for value in Appointment.SessionType.values
        }

    def policy_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in POLICY_FIELDS}


class FeeFilterForm(forms.Form):
    default_renderer = FastWidgets()  # issue 11: Django's widget HTML without its templates
    state = forms.ChoiceField(
        choices=[
            ("", "Any state but voided"),
            *[
                (value, "Voided (and undone marks)" if value == FeeAssessment.State.VOID else label)
                for value, label in FeeAssessment.State.choices
            ],
        ],
        required=False,
    )
    clinician = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_sane_date]
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_sane_date]
    )

    def __init__(self, *args, clinicians, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].choices = [("", "Every clinician")] + [
            (c.pk, c.get_full_name() or c.username) for c in clinicians
        ]


class FeeActionForm(forms.Form):
    action = forms.ChoiceField(choices=[("waive", "Waive"), ("paid", "Mark paid"), ("void", "Void")])
    reason_code = forms.ChoiceField(
        choices=[("", "Choose a reason"), *FeeAssessment.WaiverReason.choices], required=False
    )
    note = forms.CharField(max_length=500, required=False)

    def clean(self):
        data = super().clean()
        if data.get("action") == "waive" and not data.get("reason_code"):
            self.add_error("reason_code", "A waiver needs a reason.")
        return data


class AcknowledgementForm(forms.Form):
    method = forms.ChoiceField(
        choices=[
            (Acknowledgement.Method.IN_PERSON, "Signed in person"),
            (Acknowledgement.Method.PAPER, "Paper form on file"),
        ]
    )


class SafetyCheckForm(forms.Form):
    send_followups = forms.BooleanField(required=False)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text="Optional: how you reached them. Kept on the record.",
    )
