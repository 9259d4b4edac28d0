"""Form fields drawn in Python: Bootstrap 5 markup as crispy-forms draws it, at a fraction of the cost.

Issue 11: crispy-forms was 58% of the Policies page (three forms, 36 fields). Each
field went through crispy's nested templates, then Django's widget templates
(`attrs.html` once per widget, `select_option.html` once per option). Here:

- `FastWidgets`, a form renderer for the plain widgets (`<input>`, `<textarea>`,
  `<select>`) that writes the same HTML as Django's own widget templates, with
  the same escaping, and hands every other template (radio lists, whole forms,
  error lists) to Django's `DjangoTemplates` renderer. A form opts in with
  `default_renderer = FastWidgets()`; tests/practice/test_formfields.py compares
  its output with Django's templates, widget by widget.
- `field_html(bound_field)`, the `{% bs_field %}` tag (practice/templatetags/fields.py):
  the wrapper crispy-bootstrap5 draws around a field (`div_id_<name>`, the label with
  `requiredField` and its asterisk, `form-control`/`form-select`/`form-check-input`
  and `is-invalid`, the errors under `error_<n>_id_<name>` in `.invalid-feedback`,
  the help text as `id_<name>_helptext`, which Django already names in the
  widget's `aria-describedby`). Same ids, classes, labels and messages, so the
  page reads and behaves as before.
"""

import html

from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe


def conditional_escape(value) -> str:
    """django.utils.html.conditional_escape, without its wrapper for lazy arguments (`keep_lazy` checks every
    argument of every call: ~900 calls a Policies page, a tenth of its time, issue 11). The same answer:
    lazy text is made text first, anything with `__html__` is taken as it says, the rest escaped as
    Django's `escape` does (`html.escape` of its text)."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def format_html(format_string: str, *args) -> SafeString:
    """django.utils.html.format_html with the conditional_escape above (positional arguments only)."""
    return SafeString(format_string.format(*map(conditional_escape, args)))


# Django's input-family widget templates: each only includes django/forms/widgets/input.html.
_INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "date",
        "datetime",
        "time",
        "checkbox",
        "search",
        "tel",
        "color",
    )
)


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html: False leaves the attribute out, True writes its name alone."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            out.append(f" {conditional_escape(name)}")
        else:
            out.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(out)


def _input(widget: dict) -> str:
    value = widget["value"]
    shown = "" if value is None else f' value="{conditional_escape(str(value))}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"'
        f"{shown}{_attrs(widget['attrs'])}>"
    )


def _textarea(widget: dict) -> str:
    value = widget["value"]
    text = conditional_escape(value) if value else ""
    return f'<textarea name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>\n{text}</textarea>'


def _select(widget: dict) -> str:
    out = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in options:
            out.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"{_attrs(option["attrs"])}>'
                f"{conditional_escape(option['label'])}</option>\n"  # select_option.html's own line end
            )
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


_WRITERS = {
    **dict.fromkeys(_INPUT_TEMPLATES, _input),
    "django/forms/widgets/textarea.html": _textarea,
    "django/forms/widgets/select.html": _select,
}


class FastWidgets(DjangoTemplates):
    """Django's own widget HTML for inputs, textareas and selects, written in Python; the rest by template."""

    def render(self, template_name, context, request=None):
        writer = _WRITERS.get(template_name)
        if writer is None or "widget" not in context:
            return super().render(template_name, context, request=request)
        return writer(context["widget"])


def field_html(field: forms.BoundField) -> SafeString:
    """One field as crispy-bootstrap5 draws it in a vertical form (see the module docstring)."""
    widget = field.field.widget
    if widget.is_hidden:
        return mark_safe(str(field))  # noqa: S308 (Django's own widget HTML, escaped)
    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple | forms.FileInput | forms.MultiWidget):
        raise TypeError(f"{field.name}: {{% bs_field %}} draws inputs, textareas, selects and checkboxes only")
    auto_id = field.auto_id
    errors = field.errors
    required = field.field.required
    is_checkbox = isinstance(widget, forms.CheckboxInput)
    if is_checkbox:
        bootstrap = "form-check-input"
    elif isinstance(widget, forms.Select):
        bootstrap = "form-select"
    else:
        bootstrap = "form-control"
    # As crispy: the widget's own class, its class name (e.g. "numberinput"), then Bootstrap's.
    classes = [c for c in (widget.attrs.get("class", ""), type(widget).__name__.lower(), bootstrap) if c]
    if errors:
        classes.append("is-invalid")
    control = field.as_widget(attrs={"class": " ".join(classes)})
    if field.field.show_hidden_initial:  # as BoundField.__str__ (a model field with a callable default)
        control += field.as_hidden(only_initial=True)
    asterisk = mark_safe('<span class="asteriskField">*</span>') if required else ""
    required_class = " requiredField" if required else ""
    messages = ""
    if errors:
        messages = format_html(
            '<div id="{}_error" class="invalid-feedback">{}</div>',
            auto_id,
            mark_safe(  # noqa: S308 (each part escaped by format_html)
                "".join(
                    format_html('<span id="error_{}_{}"><strong>{}</strong></span>', n, auto_id, error)
                    for n, error in enumerate(errors, start=1)
                )
            ),
        )
    help_text = ""
    if field.help_text:
        # Help text is ours, written in the form class (crispy marks it safe too).
        help_text = format_html('<div id="{}_helptext" class="form-text">{}</div>', auto_id, mark_safe(field.help_text))  # noqa: S308
    if is_checkbox:
        return format_html(
            '<div class="mb-3"><div id="div_{}" class="form-check">{}'
            '<label for="{}" class="form-check-label{}">{}{}</label>{}{}</div></div>',
            auto_id,
            control,
            field.id_for_label,
            required_class,
            field.label,
            asterisk,
            messages,
            help_text,
        )
    return format_html(
        '<div id="div_{}" class="mb-3"><label for="{}" class="form-label{}">{}{}</label>{}{}{}</div>',
        auto_id,
        field.id_for_label,
        required_class,
        field.label,
        asterisk,
        control,
        messages,
        help_text,
    )
