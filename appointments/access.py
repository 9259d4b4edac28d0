"""The one way a view fetches a client or an appointment: outside the user's scope is a 404."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from . import selectors
from .models import Appointment, AppointmentSeries, Client


def get_appointment_for_user(request: HttpRequest, pk: int) -> Appointment:
    return get_object_or_404(selectors.appointments_for(request.membership), pk=pk)


def get_client_for_user(request: HttpRequest, pk: int) -> Client:
    return get_object_or_404(Client.objects.for_membership(request.membership), pk=pk)


def get_series_for_user(request: HttpRequest, pk: int) -> AppointmentSeries:
    qs = AppointmentSeries.objects.for_membership(request.membership).select_related("client", "clinician")
    return get_object_or_404(qs, pk=pk)
