"""Forms validate and normalise; the services write."""

from datetime import UTC, datetime, timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row, Submit
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from practice.http import validate_sane_date
from practice.models import Membership
from practice.phones import display_phone, normalise_phone, phone_problem

from .models import Appointment, Availability, Client
from .selectors import clinicians_for, practice_zone


class ClinicianChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.get_username()


class ClientForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "preferred_channel",
            "consent_email",
            "consent_sms",
            "clinician",
            "needs_safety_check",
            "mention_exercises",
            "reminders_opt_out",
            "is_archived",
        ]
        labels = {"is_archived": "Archived"}
        field_classes = {"clinician": ClinicianChoiceField}

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = clinicians_for(membership)
        if not membership.sees_whole_practice:
            self.fields["clinician"].initial = membership.user_id
        self.country = membership.practice.country
        self.fields["phone"].help_text = (
            "For example (212) 555-0100; add the country code for a number outside "
            f"{self.country}, e.g. +44 20 7946 0958."
        )
        if not self.is_bound and self.instance.sms_number:
            # Stored in E.164; shown as staff would write it.
            self.initial["phone"] = display_phone(self.instance.sms_number, self.country)
        if self.instance.pk and self.instance.phone_needs_review:
            self.fields["phone"].help_text = (
                "Check this number: it could not be read, so no text messages go to it. "
                + self.fields["phone"].help_text
            )
        self.helper = FormHelper()
        self.helper.add_input(Submit("save", "Save client"))

    def clean_phone(self):
        raw = self.cleaned_data["phone"].strip()
        if self.instance.pk and self.instance.phone_needs_review and raw == self.instance.phone:
            # Kept as it was: still flagged, and the rest of the form can be saved.
            return raw
        e164, ok = normalise_phone(raw, self.country)
        if not ok:
            raise ValidationError(phone_problem(raw, self.country))
        return e164

    def clean(self):
        data = super().clean()
        channel = data.get("preferred_channel")
        if channel == Client.Channel.EMAIL and not data.get("email"):
            self.add_error("email", "Email is the preferred channel, so an address is needed.")
        if channel in (Client.Channel.SMS, Client.Channel.PHONE) and not data.get("phone"):
            self.add_error("phone", "A phone number is needed for the preferred channel.")
        if data.get("consent_email") and not data.get("email"):
            self.add_error("consent_email", "Consent to email needs an email address.")
        if data.get("consent_sms") and not data.get("phone"):
            self.add_error("consent_sms", "Consent to text messages needs a phone number.")
        return data


class AppointmentTimeMixin(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_sane_date])
    start_time = forms.TimeField(label="Starts at", widget=forms.TimeInput(attrs={"type": "time"}))
    duration = forms.IntegerField(label="Length (minutes)", min_value=10, max_value=480, initial=50)

    def local_bounds(self, membership: Membership) -> tuple[datetime, datetime]:
        """The start and end, read as wall-clock time in the practice's zone."""
        tz = practice_zone(membership)
        naive = datetime.combine(self.cleaned_data["date"], self.cleaned_data["start_time"])
        start = timezone.make_aware(naive, tz)
        # A time that DST skips (02:30 on a spring-forward night) does not exist.
        if start.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
            raise forms.ValidationError("That time does not exist in the practice's time zone (the clocks go forward).")
        return start, start + timedelta(minutes=self.cleaned_data["duration"])


class BookingForm(AppointmentTimeMixin):
    client = forms.ModelChoiceField(queryset=Client.objects.none())
    clinician = ClinicianChoiceField(queryset=None)
    session_type = forms.ChoiceField(choices=Appointment.SessionType.choices, initial="individual")
    modality = forms.ChoiceField(label="Where", choices=Appointment.Modality.choices, initial="in_person")
    weeks = forms.IntegerField(
        label="Repeat weekly for (weeks)",
        min_value=1,
        max_value=52,
        initial=1,
        help_text="1 books a single session; 12 books the same time for 12 weeks.",
    )

    field_order = [
        "client",
        "clinician",
        "date",
        "start_time",
        "duration",
        "session_type",
        "modality",
        "weeks",
    ]

    def __init__(self, *args, membership: Membership, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.membership = membership
        self.fields["client"].queryset = clients
        self.fields["clinician"].queryset = clinicians_for(membership)
        if not membership.sees_whole_practice:
            self.fields["clinician"].initial = membership.user_id
        self.helper = FormHelper()
        # The page writes the <form> tag: a series with clashes adds a second submit inside it.
        self.helper.form_tag = False
        self.helper.add_input(Submit("book", "Book"))

    def clean(self):
        data = super().clean()
        if not self.errors:
            data["start"], data["end"] = self.local_bounds(self.membership)
        return data


class MoveForm(AppointmentTimeMixin):
    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.membership = membership
        self.helper = FormHelper()
        self.helper.add_input(Submit("move", "Move session"))

    def clean(self):
        data = super().clean()
        if not self.errors:
            data["start"], data["end"] = self.local_bounds(self.membership)
        return data


class CancelForm(forms.Form):
    initiated_by = forms.ChoiceField(
        label="Who cancelled?",
        choices=Appointment.Initiator.choices,
        widget=forms.RadioSelect,
    )
    reason_code = forms.ChoiceField(choices=Appointment.ReasonCode.choices, required=False)


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[
            ("attended", "Attended"),
            ("no_show", "No-show"),
            ("late_cancel", "Late cancel"),
            ("cancelled", "Cancel"),
        ]
    )
    initiated_by = forms.ChoiceField(choices=Appointment.Initiator.choices, required=False)
    reason_code = forms.ChoiceField(choices=Appointment.ReasonCode.choices, required=False)
    reason = forms.CharField(max_length=500, required=False)


class CorrectionForm(forms.Form):
    """Correct a recorded outcome after the undo window: the new outcome and why."""

    outcome = forms.ChoiceField(label="Correct outcome", widget=forms.RadioSelect)
    reason = forms.CharField(
        label="Why is it being corrected?",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the audit trail. Say what happened, not clinical details.",
    )

    CHOICES = [("attended", "Attended"), ("no_show", "No-show"), ("late_cancel", "Late cancel")]

    def __init__(self, *args, current: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [(value, label) for value, label in self.CHOICES if value != current]
        self.helper = FormHelper()
        self.helper.add_input(Submit("correct", "Correct outcome"))

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Say why the outcome is being corrected.")
        return reason


class AvailabilityForm(forms.Form):
    """One weekly window. The service checks overlaps; its messages land beside the fields here."""

    weekday = forms.TypedChoiceField(label="Day", choices=Availability.Weekday.choices, coerce=int)
    start_time = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(label="To", widget=forms.TimeInput(attrs={"type": "time"}))
    session_minutes = forms.IntegerField(
        label="Session (minutes)",
        min_value=Availability.MIN_SESSION_MINUTES,
        max_value=Availability.MAX_SESSION_MINUTES,
        required=False,
    )
    buffer_minutes = forms.IntegerField(
        label="Buffer (minutes)", min_value=0, max_value=Availability.MAX_BUFFER_MINUTES, required=False
    )
    grid_minutes = forms.TypedChoiceField(
        label="Start times every",
        choices=[("", "practice default"), *Availability.GRID_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def __init__(self, *args, practice, **kwargs):
        super().__init__(*args, **kwargs)
        # Empty means the practice's default, which the placeholder shows.
        self.fields["session_minutes"].widget.attrs["placeholder"] = str(practice.session_minutes)
        self.fields["session_minutes"].help_text = f"Empty: practice default ({practice.session_minutes})."
        self.fields["buffer_minutes"].widget.attrs["placeholder"] = str(practice.buffer_minutes)
        self.fields["buffer_minutes"].help_text = f"Empty: practice default ({practice.buffer_minutes})."
        grid_default = dict(Availability.GRID_CHOICES).get(practice.slot_grid_minutes, practice.slot_grid_minutes)
        self.fields["grid_minutes"].choices = [("", f"practice default ({grid_default})"), *Availability.GRID_CHOICES]
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Row(
                Column("weekday", css_class="col-sm-4"),
                Column("start_time", css_class="col-sm-4"),
                Column("end_time", css_class="col-sm-4"),
            ),
            Row(
                Column("session_minutes", css_class="col-sm-4"),
                Column("buffer_minutes", css_class="col-sm-4"),
                Column("grid_minutes", css_class="col-sm-4"),
            ),
        )
        self.helper.add_input(Submit("add", "Add window"))

    def clean(self):
        data = super().clean()
        start, end = data.get("start_time"), data.get("end_time")
        if start is not None and end is not None and end <= start:
            self.add_error("end_time", "The window must end after it starts (and by midnight).")
        return data

    def add_service_error(self, exc: ValidationError) -> None:
        """Put a service's message beside the field it names, or above the form."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)
