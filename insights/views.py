"""The Insights page: figures for a period, each a chart with its table, and their CSV."""

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from appointments.selectors import clinicians_for
from practice.access import membership_required
from practice.http import csv_cell

from . import charts, selectors
from .forms import InsightsForm


@membership_required
@require_GET
def insights(request: HttpRequest) -> HttpResponse:
    """Clinicians see their own caseload; admins and front desk the practice, or one clinician.

    Bad input (dates, a clinician not in the practice) shows the form's message and no figures
    (a 200, as the other filter pages answer: the page itself is fine, the filter is not).
    """
    membership = request.membership
    clinicians = list(clinicians_for(membership))
    today = timezone.localdate()  # PracticeMiddleware activated the practice's zone
    form = InsightsForm(
        request.GET or None, today=today, clinicians=clinicians, sees_whole_practice=membership.sees_whole_practice
    )
    if not request.GET:
        form = InsightsForm({}, today=today, clinicians=clinicians, sees_whole_practice=membership.sees_whole_practice)
    figures = []
    scope = None
    if form.is_valid():
        scope = selectors.scope_for(
            membership,
            first=form.cleaned_data["first"],
            last=form.cleaned_data["last"],
            clinician_id=form.cleaned_data.get("clinician"),
        )
        figures = selectors.insights(scope, compare=form.cleaned_data["compare"])
        if request.GET.get("export") == "csv":
            wanted = request.GET.get("figure", "")
            return _csv(scope, [f for f in figures if not wanted or f.key == wanted])
    query = request.GET.copy()
    query.pop("export", None)
    query.pop("figure", None)
    return render(
        request,
        "insights/insights.html",
        {
            "form": form,
            "scope": scope,
            "figures": [(f, charts.chart_for(f)) for f in figures],
            "query": query.urlencode(),
            "min_group": selectors.MIN_GROUP,
        },
    )


def _csv(scope: selectors.Scope, figures: list[selectors.Figure]) -> HttpResponse:
    """One row per group and measure: the count, its denominator and the rate (empty when too few to tell)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"insights-{scope.first:%Y%m%d}-{scope.last:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(["figure", "group", "measure", "count", "of", "percent", "note"])
    for figure in figures:
        for row in figure.rows:
            for measure, rate in zip(figure.measures, row.rates, strict=True):
                writer.writerow(
                    [
                        csv_cell(figure.title),
                        csv_cell(row.label),
                        csv_cell(measure),
                        rate.count,
                        rate.total,
                        "" if rate.percent is None else rate.percent,
                        "too few to tell" if rate.too_few else "",
                    ]
                )
            if row.extra:
                writer.writerow(
                    [
                        csv_cell(figure.title),
                        csv_cell(row.label),
                        csv_cell(figure.extra_label),
                        "",
                        "",
                        "",
                        csv_cell(row.extra),
                    ]
                )
    return response
