"""The one way a view fetches a client or an appointment: outside the user's scope is a 404."""

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from . import selectors
from .models import Appointment, AppointmentSeries, Client


def get_appointment_for_user(request: HttpRequest, pk: int) -> Appointment:
    return get_object_or_404(selectors.appointments_for(request.membership), pk=pk)


def check_appointment_for_user(request: HttpRequest, pk: int) -> None:
    """The same 404 as `get_appointment_for_user`, for a view that hands the id to a service and
    renders what the service returns (one indexed lookup, no rows built)."""
    if not selectors.appointments_for(request.membership).filter(pk=pk).exists():
        raise Http404("No appointment matches the given query.")


def get_client_for_user(request: HttpRequest, pk: int, *, related: tuple[str, ...] = ()) -> Client:
    """`related`: foreign keys the page shows, fetched in the same query (select_related)."""
    return get_object_or_404(Client.objects.for_membership(request.membership).select_related(*related), pk=pk)


def get_series_for_user(request: HttpRequest, pk: int) -> AppointmentSeries:
    qs = AppointmentSeries.objects.for_membership(request.membership).select_related("client", "clinician")
    return get_object_or_404(qs, pk=pk)
