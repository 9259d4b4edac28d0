"""The one way a view fetches a client or an appointment: outside the user's scope is a 404."""

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from practice import sqlonce
from practice.models import Membership

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
    """`related`: foreign keys the page shows, fetched in the same query (select_related).

    The query is compiled once per scope (practice/sqlonce.py): building `for_membership`'s
    queryset was an eighth of the client page (issue 11)."""
    membership = request.membership
    if membership is None or isinstance(pk, bool) or not isinstance(pk, int):
        return get_object_or_404(Client.objects.for_membership(membership).select_related(*related), pk=pk)
    found = sqlonce.objects(
        _client_query,
        membership.sees_whole_practice,
        tuple(related),
        practice_id=membership.practice_id,
        user_id=membership.user_id,
        pk=pk,
        may_ignore=("user_id",),
    )
    if not found:
        raise Http404("No Client matches the given query.")  # get_object_or_404's words
    return found[0]


def _client_query(whole_practice: bool, related: tuple[str, ...], *, practice_id: int, user_id: int, pk: int):
    """`for_membership` for a member who sees the whole practice or only their own clients."""
    member = Membership.scoped(practice_id=practice_id, user_id=user_id, whole_practice=whole_practice)
    return Client.objects.for_membership(member).select_related(*related).filter(pk=pk)


def get_series_for_user(request: HttpRequest, pk: int) -> AppointmentSeries:
    qs = AppointmentSeries.objects.for_membership(request.membership).select_related("client", "clinician")
    return get_object_or_404(qs, pk=pk)
