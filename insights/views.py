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
            return _csv(
                scope, [f for f in figures if not wanted or f.key == wanted], compare=form.cleaned_data["compare"]
            )
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


def _rate_cells(rate: selectors.Rate | None) -> list:
    if rate is None:
        return ["", "", "", ""]
    percent = "" if rate.percent is None else rate.percent
    return [rate.count, rate.total, percent, "too few to tell" if rate.too_few else ""]


def _csv(scope: selectors.Scope, figures: list[selectors.Figure], *, compare: bool = False) -> HttpResponse:
    """One row per group and measure: the count, its denominator and the rate (empty when too few to tell).

    With the comparison on, four more columns: the previous period's count, denominator, rate
    and note for the same group (empty where the group had no row then, or for the headline,
    whose previous period is a row of its own).
    """
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"insights-{scope.first:%Y%m%d}-{scope.last:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    header = ["figure", "group", "measure", "count", "of", "percent", "note"]
    if compare:
        header += ["previous_group", "previous_count", "previous_of", "previous_percent", "previous_note"]
    writer.writerow(header)
    for figure in figures:
        for row, cells in figure.previous_table:
            for measure, rate, old in cells:
                line = [csv_cell(figure.title), csv_cell(row.label), csv_cell(measure), *_rate_cells(rate)]
                if compare:
                    line += [csv_cell(row.previous_label or (row.label if old else "")), *_rate_cells(old)]
                writer.writerow(line)
            if row.extra or row.previous_extra:
                line = [csv_cell(figure.title), csv_cell(row.label), csv_cell(figure.extra_label), "", "", ""]
                line.append(csv_cell(row.extra))
                if compare:
                    line += [csv_cell(row.previous_label or row.label), "", "", "", csv_cell(row.previous_extra)]
                writer.writerow(line)
    return response
