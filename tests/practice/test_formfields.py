"""practice/formfields.py draws what Django's widget templates and crispy-bootstrap5 drew (issue 11)."""

import re

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.template.loader import get_template

from engagement.forms import ReflectionNoteForm
from followups.forms import MessageFilterForm, PlanForm, ReminderPlanForm
from followups.models import FollowUpPlan, ReminderPlan
from policies.forms import FeeFilterForm, PolicyForm
from practice.formfields import FastWidgets, field_html

pytestmark = pytest.mark.django_db

TRICKY = "a <b> & \"c\" 'd'"


class Everything(forms.Form):
    default_renderer = FastWidgets()
    text = forms.CharField(label=TRICKY, help_text="Some <em>help</em>", max_length=20)
    number = forms.IntegerField(min_value=1, max_value=9, required=False)
    money = forms.DecimalField(max_digits=6, decimal_places=2)
    when = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)
    at = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    email = forms.EmailField(required=False)
    tick = forms.BooleanField(required=False, label="Tick it")
    must_tick = forms.BooleanField(label="Must tick")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    pick = forms.ChoiceField(choices=[("", "None"), ("a", TRICKY), ("b", "B")])
    grouped = forms.ChoiceField(choices=[("Group <1>", [("x", "X"), ("y", "Y")]), ("z", "Z")], required=False)
    secret = forms.CharField(widget=forms.HiddenInput, required=False)


def _crispy(field) -> str:
    """crispy-bootstrap5's field.html as `{% crispy form %}` drew it (a helper's defaults: errors inline)."""
    context = {"field": field, "form_show_errors": True, "form_show_labels": True, "error_text_inline": True}
    return get_template("bootstrap5/field.html").render(context)


def _normal(html: str) -> str:
    html = re.sub(r">\s+", ">", str(html))
    html = re.sub(r"\s+<", "<", html)
    return re.sub(r"\s+", " ", html).strip()


def _forms(bound: bool):
    """Each form the fast renderer draws, unbound and bound with errors, freshly built."""
    plan = FollowUpPlan()
    reminders = ReminderPlan()
    data = {"text": TRICKY, "number": "x", "pick": "a", "grouped": "y", "tick": "on", "note": TRICKY, "when": "no"}
    policy = {"notice_hours": "0", "currency": "U$", "no_show_fee": "-1", "summary": "<script>"}
    if not bound:
        return [
            Everything(initial={"text": TRICKY, "pick": "b", "tick": True, "note": TRICKY}),
            PolicyForm(zone=None, initial={"notice_hours": 24, "summary": TRICKY}),
            PlanForm(instance=plan),
            ReminderPlanForm(instance=reminders),
            ReflectionNoteForm(),
            FeeFilterForm(clinicians=[]),
            MessageFilterForm(),
        ]
    built = [
        Everything(data),
        PolicyForm(policy, zone=None),
        PlanForm({"first_delay_minutes": "x"}, instance=plan),
        ReminderPlanForm({"first_hours": "-3"}, instance=reminders),
        ReflectionNoteForm({"missed_session": "7", "text": ""}),
        FeeFilterForm({"state": "nope", "date_from": "x"}, clinicians=[]),
        MessageFilterForm({"status": "nope"}),
    ]
    for form in built:
        form.is_valid()
    return built


@pytest.mark.parametrize("bound", [False, True])
def test_fast_widgets_write_what_djangos_widget_templates_write(bound):
    slow = DjangoTemplates()
    compared = 0
    for form in _forms(bound):
        for field in form:
            widget = field.field.widget
            attrs = field.build_widget_attrs({"class": "x"})
            attrs["id"] = field.auto_id
            value = field.value()
            fast = widget.render(field.html_name, value, attrs, renderer=FastWidgets())
            django = widget.render(field.html_name, value, attrs, renderer=slow)
            assert fast == django, f"{type(form).__name__}.{field.name}"
            compared += 1
    assert compared > 50


@pytest.mark.parametrize("bound", [False, True])
def test_bs_field_draws_what_crispy_drew(bound):
    """Same ids, classes, labels, help text and error messages as crispy-bootstrap5's field.html."""
    ours = [[field_html(field) for field in form] for form in _forms(bound)]
    # crispy changes the widget's attrs as it draws, so it gets fresh forms.
    theirs = [[_crispy(field) for field in form] for form in _forms(bound)]
    compared = 0
    for our_form, their_form in zip(ours, theirs, strict=True):
        for mine, crispy in zip(our_form, their_form, strict=True):
            assert _normal(mine) == _normal(crispy)
            compared += 1
    assert compared > 50
    if bound:
        flat = "".join(str(html) for form in ours for html in form)
        assert "is-invalid" in flat and 'class="invalid-feedback"' in flat and 'aria-invalid="true"' in flat
        assert "&lt;b&gt; &amp; &quot;c&quot;" in flat  # a label and a value, escaped
        assert "<script>" not in flat


def test_bs_field_refuses_widgets_it_does_not_draw():
    class Radios(forms.Form):
        choice = forms.ChoiceField(choices=[("a", "A")], widget=forms.RadioSelect)

    with pytest.raises(TypeError):
        field_html(Radios()["choice"])
