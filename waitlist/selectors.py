"""Reads for the waitlist pages, scoped to what the member may see."""

from django.db.models import Count, Q, QuerySet

from practice.models import Membership

from .models import FreedSlot, WaitlistEntry, WaitlistOffer

RECENT_SLOTS = 20


def entries_for(*, membership: Membership, search: str = "") -> QuerySet[WaitlistEntry]:
    """Waiting entries of clients this member may see, in join order (the order offers go in)."""
    qs = (
        WaitlistEntry.objects.for_membership(membership)
        .filter(left_at__isnull=True)
        .select_related("client")
        .prefetch_related("clinicians")
        .order_by("joined_at", "id")
    )
    if search:
        qs = qs.filter(Q(client__first_name__icontains=search) | Q(client__last_name__icontains=search))
    return qs


def slots_for(membership: Membership) -> QuerySet[FreedSlot]:
    """Freed time this member may see: the practice's, or a clinician's own."""
    qs = FreedSlot.objects.filter(practice_id=membership.practice_id)
    if not membership.sees_whole_practice:
        qs = qs.filter(clinician_id=membership.user_id)
    return qs


def recent_slots(membership: Membership) -> list[FreedSlot]:
    """The latest freed times, with how their offers went (counts, one query)."""
    return list(
        slots_for(membership)
        .select_related("clinician", "booked__client")
        .annotate(
            offered=Count("offers"),
            waiting=Count("offers", filter=Q(offers__outcome=WaitlistOffer.Outcome.PENDING)),
        )
        .order_by("-created_at", "-id")[:RECENT_SLOTS]
    )


def slot_offers(slot: FreedSlot) -> list[WaitlistOffer]:
    return list(slot.offers.select_related("entry__client", "message").order_by("round", "id"))
