"""Forms validate and normalise; waitlist/services.py writes."""

from datetime import timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from appointments.models import Client
from practice.http import validate_sane_date
from practice.models import Membership

from .models import WEEKDAYS, WaitlistPlan, earliest_default, latest_default

User = get_user_model()
DEFAULT_WAIT_DAYS = 60


class ClinicianMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.get_username()


class EntryForm(forms.Form):
    client = forms.ModelChoiceField(queryset=Client.objects.none())
    clinicians = ClinicianMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="With",
        help_text="Leave all unticked for any clinician.",
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="On",
        help_text="Leave all unticked for any day.",
    )
    earliest = forms.TimeField(
        label="Earliest start", widget=forms.TimeInput(attrs={"type": "time"}), initial=earliest_default
    )
    latest = forms.TimeField(
        label="Latest end",
        widget=forms.TimeInput(attrs={"type": "time"}),
        initial=latest_default,
        help_text="The session must end by this time.",
    )
    expires_on = forms.DateField(
        label="Waiting until", widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_sane_date]
    )

    def __init__(self, *args, membership: Membership, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        practice = membership.practice
        self.fields["client"].queryset = Client.objects.for_membership(membership).filter(is_archived=False)
        # A client may wait for any clinician of the practice, whoever adds them.
        self.fields["clinicians"].queryset = User.objects.filter(
            membership__practice=practice, membership__is_clinician=True, membership__is_active=True
        ).order_by("last_name", "first_name", "username")
        if editing:
            del self.fields["client"]
        if not self.is_bound and "expires_on" not in self.initial:
            self.initial["expires_on"] = timezone.localdate(timezone.now(), practice.time_zone) + timedelta(
                days=DEFAULT_WAIT_DAYS
            )
        self.helper = FormHelper()
        self.helper.add_input(Submit("save", "Save" if editing else "Add to the waitlist"))

    def clean(self):
        data = super().clean()
        if data.get("earliest") and data.get("latest") and data["latest"] <= data["earliest"]:
            self.add_error("latest", "The end of the time range must come after its start.")
        return data


class PlanForm(forms.ModelForm):
    class Meta:
        model = WaitlistPlan
        fields = ["enabled", "hold_minutes", "min_lead_hours", "offers_per_round"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = "waitlist:plan_save"
        self.helper.add_input(Submit("save", "Save the waitlist settings"))


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
