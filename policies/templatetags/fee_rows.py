"""`{% load fee_rows %}`: `{% fee_rows fees show_client %}` renders a list of fees as table rows.

Each row is a policies.rows.FeeRow, from the row cache (practice/rowcache.py) when
the same row view was rendered before, else from "policies/_fee_table.html#row".
The viewer (`membership`), the page to come back to (`request`) and the CSRF
token are read here, from the page's context, never by the row partial.
"""

from django import template
from django.template.defaulttags import CsrfTokenNode

from policies import rows as fee

register = template.Library()


@register.simple_tag(takes_context=True)
def fee_rows(context, fees, show_client):
    request = context.get("request")
    rows = fee.fee_rows(
        list(fees or ()),
        membership=context.get("membership"),
        show_client=bool(show_client),
        next_url=request.get_full_path() if request is not None else "",
    )
    # What {% csrf_token %} would write here, asked for only when a row has a form.
    return fee.render(rows, csrf_input=lambda: CsrfTokenNode().render(context))
