"""The practice settings form: validates and normalises; practice_update writes."""

import phonenumbers
from django import forms

from .models import Practice
from .phones import normalise_phone, phone_problem

# Countries a practice is likely to be in, by name; any other supported
# region already on file is kept as a choice under its code.
COUNTRIES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "AU": "Australia",
    "NZ": "New Zealand",
    "ZA": "South Africa",
    "IN": "India",
    "DE": "Germany",
    "FR": "France",
    "NL": "Netherlands",
    "ES": "Spain",
    "MX": "Mexico",
}


class PracticeSettingsForm(forms.ModelForm):
    country = forms.ChoiceField(help_text="Phone numbers written without a country code are read as this country's.")

    class Meta:
        model = Practice
        fields = [
            "name",
            "sender_name",
            "reply_to_email",
            "phone",
            "address",
            "time_zone",
            "country",
            "video_instructions",
            "undo_window_minutes",
            "correction_window_days",
            "session_minutes",
            "buffer_minutes",
            "slot_grid_minutes",
            "require_two_factor",
            "idle_timeout_minutes",
        ]
        labels = {
            "sender_name": "Sender name",
            "undo_window_minutes": "Undo window (minutes)",
            "correction_window_days": "Correction window (days)",
        }
        help_texts = {
            "name": "Shown to staff only.",
            "phone": "Shown to clients on their pages and in messages, so they can call.",
        }
        widgets = {
            "address": forms.Textarea(attrs={"rows": 2}),
            "video_instructions": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = sorted(COUNTRIES.items(), key=lambda item: item[1])
        current = self.instance.country
        if current and current not in COUNTRIES:
            choices.append((current, current))
        self.fields["country"].choices = choices
        if not self.is_bound and self.instance.phone_e164:
            # Stored in E.164; shown as the admin would write it.
            self.initial["phone"] = self.instance.phone_display
        self.fields["time_zone"].help_text = (
            "Booked sessions keep their time; availability keeps its wall-clock hours. "
            "You will see how many sessions change their local time before saving."
        )

    def clean_sender_name(self):
        value = self.cleaned_data["sender_name"]
        # It reaches the From header of every email: a line break would add a header.
        if "\r" in value or "\n" in value:
            raise forms.ValidationError("Keep the sender name on one line.")
        return value.strip()

    def clean_country(self):
        value = self.cleaned_data["country"].upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise forms.ValidationError("Choose a country from the list.")
        return value

    def clean(self):
        data = super().clean()
        country = data.get("country") or self.instance.country
        e164, ok = normalise_phone(data.get("phone", ""), country)
        if ok:
            data["phone"] = e164
        elif "phone" in data:
            self.add_error("phone", phone_problem(data["phone"], country))
        return data


class OneLineField(forms.CharField):
    """Text bound for a mail header or a greeting: a line break is refused."""

    def clean(self, value):
        value = super().clean(value)
        if "\r" in value or "\n" in value:
            raise forms.ValidationError("Keep this on one line.")
        return value


ROLE_CHOICES = [
    ("clinician", "Clinician"),
    ("front_desk", "Front desk"),
    ("admin", "Practice admin"),
]


class RoleFields(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, label="Role", widget=forms.RadioSelect)
    is_clinician = forms.BooleanField(
        required=False,
        label="Also sees clients (admins only)",
        help_text="An admin who also holds a caseload and a schedule. Clinicians always do; front desk never.",
    )


class StaffInviteForm(RoleFields):
    first_name = OneLineField(max_length=150, label="First name")
    last_name = OneLineField(max_length=150, label="Last name", required=False)
    email = forms.EmailField(label="Email", max_length=254)
    field_order = ["first_name", "last_name", "email", "role", "is_clinician"]


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        label="Username",
        help_text="What you type to sign in. Your email address is fine.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not a common password, not all digits.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ. Type the same password twice.")
        return data
