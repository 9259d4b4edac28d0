"""The upload form and the column-mapping form of the preview."""

from django import forms

from appointments.forms import ClinicianChoiceField

from . import parsing
from .models import ImportUpload

ALLOWED_SUFFIXES = (".csv", ".txt", ".tsv")


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        label="What does the file hold?", choices=ImportUpload.Kind.choices, widget=forms.RadioSelect
    )
    file = forms.FileField(
        label="CSV file",
        help_text=f"A CSV export, up to {parsing.MAX_BYTES // (1024 * 1024)} MB and {parsing.MAX_ROWS:,} rows.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = (upload.name or "").lower()
        if name.endswith((".xlsx", ".xls", ".numbers", ".ods")):
            raise forms.ValidationError(
                "This is a spreadsheet workbook, not a CSV file. In Excel choose File › Save As › CSV UTF-8."
            )
        if not name.endswith(ALLOWED_SUFFIXES):
            raise forms.ValidationError("Upload a CSV file (its name ends in .csv).")
        if upload.size > parsing.MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {parsing.MAX_BYTES // (1024 * 1024)} MB. Split it into smaller files."
            )
        return upload


class MappingForm(forms.Form):
    """One select per field of ours, choosing the CSV column that feeds it."""

    def __init__(self, *args, upload: ImportUpload, clinicians, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload = upload
        choices = [("", "(not imported)")] + [(h, h) for h in upload.headers]
        for name, label, _aliases in parsing.FIELDS[upload.kind]:
            self.fields[f"map_{name}"] = forms.ChoiceField(
                label=label, choices=choices, required=False, initial=upload.mapping.get(name, "")
            )
        if upload.kind == ImportUpload.Kind.CLIENTS:
            self.fields["default_clinician"] = ClinicianChoiceField(
                label="Clinician for rows without one",
                queryset=clinicians,
                required=False,
                initial=upload.default_clinician_id,
            )

    def mapping(self) -> dict[str, str]:
        return {
            name: self.cleaned_data[f"map_{name}"]
            for name, _label, _aliases in parsing.FIELDS[self.upload.kind]
            if self.cleaned_data.get(f"map_{name}")
        }

    def clean(self):
        data = super().clean()
        used: dict[str, str] = {}
        for name, _label, _aliases in parsing.FIELDS[self.upload.kind]:
            header = data.get(f"map_{name}")
            if (
                header
                and header in used
                and not (self.upload.kind == "sessions" and {name, used[header]} <= {"date", "start_time"})
            ):
                self.add_error(f"map_{name}", f"“{header}” already feeds another field.")
            elif header:
                used[header] = name
        return data
