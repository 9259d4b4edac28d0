from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError

from practice.http import validate_sane_date

DEFAULT_DAYS = 90
MAX_DAYS = 366 * 10  # a bound on what one page sums; five years of history fits twice


class InsightsForm(forms.Form):
    """The period (default: the last 90 days, ending today in the practice's zone), a clinician, and the comparison."""

    first = forms.DateField(
        label="From",
        required=False,
        validators=[validate_sane_date],
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    last = forms.DateField(
        label="To",
        required=False,
        validators=[validate_sane_date],
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    clinician = forms.TypedChoiceField(label="Clinician", required=False, coerce=int, empty_value=None)
    compare = forms.BooleanField(label="Compare with the previous period", required=False)

    def __init__(self, *args, today: date, clinicians, sees_whole_practice: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["clinician"].choices = [("", "Everyone")] + [
            (c.pk, c.get_full_name() or c.get_username()) for c in clinicians
        ]
        self.fields["clinician"].widget.attrs["class"] = "form-select"
        self.fields["compare"].widget.attrs["class"] = "form-check-input"
        if not sees_whole_practice:
            del self.fields["clinician"]

    def clean(self):
        data = super().clean()
        last = data.get("last") or self.today
        first = data.get("first") or (last - timedelta(days=DEFAULT_DAYS - 1))
        if "first" in self.errors or "last" in self.errors:
            return data
        if first > last:
            raise ValidationError("The first day must be on or before the last day.", code="order")
        if (last - first).days + 1 > MAX_DAYS:
            raise ValidationError("Choose a period of at most ten years.", code="too_long")
        data["first"], data["last"] = first, last
        return data
