"""Forms validate and normalise; engagement.services and policies.services write."""

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone

from policies.models import EscalationStep
from practice.formfields import FastWidgets

NUMBER_ERRORS = {"invalid": "Enter a whole number."}


class ReflectionNoteForm(forms.Form):
    """A private note; the missed session it is about is optional.

    Drawn on the client page with {% bs_fields %}, not crispy (issue 11)."""

    default_renderer = FastWidgets()

    missed_session = forms.TypedChoiceField(
        label="About the missed session", required=False, coerce=int, empty_value=None
    )
    text = forms.CharField(
        label="What I will try",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "Private: only you and practice admins see it. For example: a different time, telehealth, a check-in call."
        ),
        error_messages={"required": "Write the note first.", "max_length": "Keep the note under 2000 characters."},
    )

    def __init__(self, *args, misses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.misses = {m.pk: m for m in misses}
        self.fields["missed_session"].choices = [("", "None in particular")] + [
            (m.pk, f"{m.get_kind_display()} on {timezone.localtime(m.appointment.start):%a %d %b %Y}") for m in misses
        ]
        self.fields["missed_session"].error_messages["invalid_choice"] = "Choose one of this client's missed sessions."

    def clean_missed_session(self):
        pk = self.cleaned_data.get("missed_session")
        return self.misses.get(pk) if pk is not None else None


class NoteEditForm(forms.Form):
    text = forms.CharField(
        label="What I will try",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write the note first.", "max_length": "Keep the note under 2000 characters."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class CheckInDoneForm(forms.Form):
    script = forms.CharField(
        label="Suggested script (edit it to your own words)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"max_length": "Keep the script under 2000 characters."},
    )
    what_was_done = forms.CharField(
        label="What I did",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: called and we moved sessions to Thursday evenings.",
        error_messages={"required": "Write what you did first.", "max_length": "Keep it under 2000 characters."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class EscalationStepForm(forms.ModelForm):
    class Meta:
        model = EscalationStep
        fields = ["count", "window_days", "title", "script"]
        labels = {
            "count": "Misses",
            "window_days": "Within (days)",
            "title": "Ask the clinician to",
            "script": "Suggested script",
        }
        help_texts = {
            "count": "2 to 20. No-shows and late cancels count alike.",
            "window_days": "1 to 365 days, counted in the practice's calendar days.",
            "script": "The clinician can edit it before using it. {first_name} becomes the client's first name.",
        }
        widgets = {"script": forms.Textarea(attrs={"rows": 3})}
        error_messages = {
            "count": {
                **NUMBER_ERRORS,
                "min_value": "Use at least 2 misses: one miss is not a pattern.",
                "max_value": "Use at most 20 misses.",
            },
            "window_days": {
                **NUMBER_ERRORS,
                "min_value": "Use a window of at least 1 day.",
                "max_value": "Use a window of at most 365 days.",
            },
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def validate_unique(self):
        # The service checks "one step per count and window" with the practice it knows.
        pass
