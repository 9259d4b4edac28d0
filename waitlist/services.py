"""Every write to the waitlist: entries, freed time, offers, and the client's answer.

Fair offers, in steps (`slot_advance`, run by the minute sweep and once on commit of the change that freed the time):
1. A cancel or move writes a `FreedSlot` in its own transaction (`slot_freed`): one open row per clinician and start.
2. For an open slot whose current round's hold has run out (or whose offers all ended early: no consent,
   the client left), the pending offers of that round expire, and the next `offers_per_round` waiting
   entries that match (clinician, weekday, time of day, reachable), in order of joining, each get an
   offer, held `hold_minutes`, sent as an outbox row of purpose "waitlist_offer" (key offer:<slot>:<client>).
3. No round starts in quiet hours, nor for a time that starts within `min_lead_hours`; a slot whose time
   has passed, or that the clinician's diary has filled again, closes and its pending offers are withdrawn.
4. Accepting (`offer_accept`) locks the link, then the slot (FOR NO KEY UPDATE of it only), then books
   under the clinician's lock (appointment_book): the first wins; everyone after finds the slot taken and
   sees a kind page. One booking per slot, whatever the number of clicks.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from appointments.models import Appointment, Client
from appointments.services import appointment_book
from followups import services as outbox
from followups import timing
from followups.models import WAITLIST_OFFER_KIND, ClientLink, FollowUpPlan, OutboxMessage
from practice.models import Membership, Practice
from practice.services import audit_record
from practice.transactions import on_commit_robust

from .models import FreedSlot, WaitlistEntry, WaitlistOffer, WaitlistPlan

log = logging.getLogger(__name__)

Outcome = WaitlistOffer.Outcome
SlotStatus = FreedSlot.Status
SWEEP_BATCH = 200
# Entries looked at per round: the first few that match are asked; the rest wait for later rounds.
MATCH_SCAN = 500
ENTRY_FIELDS = ("clinicians", "weekdays", "earliest", "latest", "expires_on")


# ------------------------------------------------------------------ plan


def plan_for(practice: Practice) -> WaitlistPlan:
    plan, _ = WaitlistPlan.objects.get_or_create(practice=practice)
    return plan


def plan_of(practice: Practice) -> WaitlistPlan:
    """The saved plan, or the defaults (unsaved) when the practice never changed them."""
    try:
        return practice.waitlist_plan
    except WaitlistPlan.DoesNotExist:
        return WaitlistPlan(practice=practice)


def plan_update(*, practice: Practice, actor, **fields) -> WaitlistPlan:
    return outbox.practice_plan_update(plan=plan_for(practice), actor=actor, action="waitlist.plan_updated", **fields)


# ------------------------------------------------------------------ entries


def _check_entry(*, practice: Practice, client: Client, clinicians, earliest: time, latest: time, expires_on: date):
    if client.practice_id != practice.pk:
        raise ValidationError("That client belongs to another practice.")
    if client.is_archived:
        raise ValidationError("This client is archived. Restore them before adding them to the waitlist.")
    if latest <= earliest:
        raise ValidationError({"latest": "The end of the time range must come after its start."})
    if expires_on < timezone.localdate(timezone.now(), practice.time_zone):
        raise ValidationError({"expires_on": "Pick a date from today on."})
    ids = {c.pk for c in clinicians}
    found = Membership.objects.filter(practice=practice, user_id__in=ids, is_active=True, is_clinician=True).count()
    if found != len(ids):
        raise ValidationError({"clinicians": "Choose clinicians of this practice."})


def entry_add(
    *,
    practice: Practice,
    client: Client,
    actor,
    clinicians=(),
    weekdays=(),
    earliest: time,
    latest: time,
    expires_on: date,
) -> WaitlistEntry:
    """Put a client on the waitlist. One waiting entry per client: a second is refused, naming the first."""
    clinicians = list(clinicians)
    _check_entry(
        practice=practice, client=client, clinicians=clinicians, earliest=earliest, latest=latest, expires_on=expires_on
    )
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                practice=practice,
                client=client,
                weekdays=sorted({int(d) for d in weekdays}),
                earliest=earliest,
                latest=latest,
                expires_on=expires_on,
                joined_at=timezone.now(),
                added_by=actor,
            )
            entry.clinicians.set(clinicians)
            audit_record(practice=practice, actor=actor, action="waitlist.entry_added", obj=entry)
    except IntegrityError as exc:
        raise ValidationError("This client is already on the waitlist: edit that entry instead.") from exc
    return entry


def entry_update(*, entry: WaitlistEntry, actor, **fields) -> WaitlistEntry:
    """Change what a waiting client waits for. Their place in the order (joined_at) stays."""
    unknown = set(fields) - set(ENTRY_FIELDS)
    if unknown:
        raise TypeError(f"Unknown waitlist entry fields: {sorted(unknown)}")
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update(of=("self",), no_key=True).get(pk=entry.pk)
        if entry.left_at is not None:
            raise ValidationError("This client has left the waitlist.")
        clinicians = list(fields.pop("clinicians", entry.clinicians.all()))
        for name, value in fields.items():
            setattr(entry, name, sorted({int(d) for d in value}) if name == "weekdays" else value)
        _check_entry(
            practice=entry.practice,
            client=entry.client,
            clinicians=clinicians,
            earliest=entry.earliest,
            latest=entry.latest,
            expires_on=entry.expires_on,
        )
        entry.save()
        entry.clinicians.set(clinicians)
        audit_record(
            practice=entry.practice,
            actor=actor,
            action="waitlist.entry_updated",
            obj=entry,
            changes={"fields": sorted([*fields, "clinicians"])},
        )
    return entry


def _close_offers(offers, *, outcome: str, code: str, now: datetime) -> int:
    """Pending offers end with `outcome`; their messages not yet on their way are cancelled."""
    ids = list(offers.filter(outcome=Outcome.PENDING).values_list("pk", flat=True))
    if not ids:
        return 0
    WaitlistOffer.objects.filter(pk__in=ids).update(outcome=outcome, answered_at=now)
    OutboxMessage.objects.filter(
        waitlist_offer__in=ids, status=OutboxMessage.Status.PENDING, handed_over_at__isnull=True
    ).update(
        status=OutboxMessage.Status.CANCELLED, cancel_code=code, cancel_reason=OutboxMessage.CancelCode(code).label
    )
    return len(ids)


def entry_leave(*, entry: WaitlistEntry, actor, how: str = WaitlistEntry.Left.STAFF) -> WaitlistEntry:
    """The client stops waiting (staff removed them, or they left from an offer). Their pending offers end."""
    now = timezone.now()
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update(of=("self",), no_key=True).get(pk=entry.pk)
        if entry.left_at is not None:
            return entry
        entry.left_at, entry.left_by, entry.left_how = now, actor, how
        entry.save(update_fields=["left_at", "left_by", "left_how"])
        _close_offers(entry.offers.all(), outcome=Outcome.LEFT, code=OutboxMessage.CancelCode.LEFT_WAITLIST, now=now)
        audit_record(
            practice=entry.practice, actor=actor, action="waitlist.entry_left", obj=entry, changes={"how": how}
        )
    return entry


# ------------------------------------------------------------------ freed time


def slot_freed(*, appointment: Appointment, start: datetime, end: datetime, cause: str) -> FreedSlot | None:
    """Time `appointment` held is free: record it for the waitlist, in the caller's transaction.

    The one hook for every change that frees time (cancel, late cancel, move, rebooking elsewhere).
    Time already started frees nothing. A second call for the same clinician and start adds
    nothing. After commit a worker offers it at once; the minute sweep does so if that is lost.
    """
    now = timezone.now()
    if start <= now:
        return None
    try:
        with transaction.atomic():
            slot, created = FreedSlot.objects.get_or_create(
                clinician_id=appointment.clinician_id,
                start=start,
                status=SlotStatus.OPEN,
                defaults={"practice_id": appointment.practice_id, "end": end, "cause": cause, "freed_by": appointment},
            )
    except IntegrityError:
        return FreedSlot.objects.filter(
            clinician_id=appointment.clinician_id, start=start, status=SlotStatus.OPEN
        ).first()
    if created:
        audit_record(
            practice=appointment.practice,
            actor=None,
            action="waitlist.slot_freed",
            obj=slot,
            changes={"cause": cause, "appointment": appointment.pk},
        )
        on_commit_robust(_enqueue_advance, slot.pk)
    return slot


def _enqueue_advance(slot_id: int) -> None:
    from .tasks import advance_slot

    advance_slot.delay(slot_id)


def _enqueue_offer(message_id: int) -> None:
    from followups.tasks import send_message

    send_message.delay(message_id)


def _matching_entries(slot: FreedSlot, *, today: date, limit: int) -> list[WaitlistEntry]:
    """The next `limit` waiting entries this slot suits, in join order, not yet offered it, reachable."""
    zone = slot.practice.time_zone
    local_start, local_end = slot.start.astimezone(zone), slot.end.astimezone(zone)
    any_clinician = ~Exists(WaitlistEntry.clinicians.through.objects.filter(waitlistentry_id=OuterRef("pk")))
    this_clinician = Exists(
        WaitlistEntry.clinicians.through.objects.filter(waitlistentry_id=OuterRef("pk"), user_id=slot.clinician_id)
    )
    candidates = (
        WaitlistEntry.objects.active(today)
        .filter(practice_id=slot.practice_id, client__is_archived=False, earliest__lte=local_start.time())
        .filter(any_clinician | this_clinician)
        # Asked once per slot, even if they left and were added again since (offer:<slot>:<client> is unique).
        .exclude(Exists(WaitlistOffer.objects.filter(slot=slot, entry__client=OuterRef("client"))))
        .select_related("client")
        .order_by("joined_at", "id")
    )
    if local_end.date() == local_start.date():
        candidates = candidates.filter(latest__gte=local_end.time())
    if slot.freed_by_id is not None:
        # The client who gave the time up is not offered it back.
        candidates = candidates.exclude(client__appointments=slot.freed_by_id)
    found = []
    for entry in candidates[:MATCH_SCAN]:
        if entry.weekdays and local_start.weekday() not in entry.weekdays:
            continue
        if outbox.channel_for(entry.client) is None:
            continue
        found.append(entry)
        if len(found) == limit:
            break
    return found


def _close_slot(slot: FreedSlot, status: str, now: datetime) -> None:
    slot.status, slot.closed_at = status, now
    slot.save(update_fields=["status", "closed_at"])
    _close_offers(slot.offers.all(), outcome=Outcome.WITHDRAWN, code=OutboxMessage.CancelCode.SLOT_GONE, now=now)


def slot_advance(*, slot_id: int, now: datetime | None = None) -> int:
    """One step of the fair offer for one slot (see the module docstring). Returns the offers written.

    Safe to run twice at once: the slot row is claimed with SKIP LOCKED (an accept or another
    sweep holding it means this run has nothing to do), and offers are unique per slot and entry.
    """
    now = now or timezone.now()
    written = []
    with transaction.atomic(durable=True):
        slot = (
            FreedSlot.objects.select_for_update(of=("self",), no_key=True, skip_locked=True)
            .select_related("practice")
            .filter(pk=slot_id, status=SlotStatus.OPEN)
            .first()
        )
        if slot is None:
            return 0
        if slot.start <= now:
            _close_slot(slot, SlotStatus.EXPIRED, now)
            return 0
        if (
            Appointment.objects.holding_time()
            .filter(clinician_id=slot.clinician_id, start__lt=slot.end, end__gt=slot.start)
            .exists()
        ):
            _close_slot(slot, SlotStatus.BOOKED_ELSEWHERE, now)
            return 0
        offers = slot.offers.all()
        live = offers.filter(outcome=Outcome.PENDING, held_until__gt=now).exclude(
            message__status__in=[OutboxMessage.Status.CANCELLED, OutboxMessage.Status.FAILED]
        )
        if live.exists():
            return 0
        _close_offers(
            offers.filter(held_until__lte=now),
            outcome=Outcome.EXPIRED,
            code=OutboxMessage.CancelCode.OFFER_ENDED,
            now=now,
        )
        plan = plan_of(slot.practice)
        if slot.start - now < timedelta(hours=plan.min_lead_hours):
            # Too close for anyone to plan for: nobody more is asked, and the slot closes.
            _close_slot(slot, SlotStatus.EXPIRED, now)
            return 0
        if not plan.enabled or _quiet(slot.practice, now):
            return 0
        entries = _matching_entries(
            slot, today=timezone.localdate(now, slot.practice.time_zone), limit=plan.offers_per_round
        )
        if not entries:
            return 0
        held_until = min(now + timedelta(minutes=plan.hold_minutes), slot.start)
        slot.round += 1
        slot.round_until = held_until
        slot.save(update_fields=["round", "round_until"])
        for entry in entries:
            message = OutboxMessage.objects.create(
                practice_id=slot.practice_id,
                purpose=OutboxMessage.Purpose.WAITLIST_OFFER,
                idempotency_key=f"offer:{slot.pk}:{entry.client_id}",
                client=entry.client,
                kind=WAITLIST_OFFER_KIND,
                channel=outbox.channel_for(entry.client),
                due_at=now,
            )
            offer = WaitlistOffer.objects.create(
                slot=slot, entry=entry, round=slot.round, offered_at=now, held_until=held_until, message=message
            )
            written.append(message.pk)
            audit_record(
                practice=slot.practice,
                actor=None,
                action="waitlist.offered",
                obj=offer,
                changes={"slot": slot.pk, "round": slot.round},
                client_id=entry.client_id,
            )
        for message_id in written:
            on_commit_robust(_enqueue_offer, message_id)
    log.info("waitlist round slot_id=%s round=%s offers=%s", slot_id, slot.round, len(written))
    return len(written)


def _quiet(practice: Practice, now: datetime) -> bool:
    try:
        plan = practice.followup_plan
    except FollowUpPlan.DoesNotExist:
        plan = FollowUpPlan(practice=practice)
    return timing.in_quiet_hours(now, quiet_start=plan.quiet_start, quiet_end=plan.quiet_end, zone=practice.time_zone)


def offers_advance(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> tuple[int, int]:
    """The minute sweep: advance every open slot whose round is due (partial index freed_slot_open_idx).

    Returns (slots looked at, offers written); the task runs again when a batch was full.
    """
    now = now or timezone.now()
    live = WaitlistOffer.objects.filter(slot=OuterRef("pk"), outcome=Outcome.PENDING, held_until__gt=now).exclude(
        message__status__in=[OutboxMessage.Status.CANCELLED, OutboxMessage.Status.FAILED]
    )
    ids = list(
        FreedSlot.objects.filter(status=SlotStatus.OPEN)
        # A round is over when its hold ran out, or sooner when none of its offers is still live.
        .filter(Q(round_until__isnull=True) | Q(round_until__lte=now) | Q(start__lte=now) | ~Exists(live))
        .order_by("start")
        .values_list("pk", flat=True)[:limit]
    )
    written = 0
    for pk in ids:
        try:
            written += slot_advance(slot_id=pk, now=now)
        except Exception as exc:  # noqa: BLE001 - one bad slot must not stall the others
            log.warning("waitlist slot_advance failed slot_id=%s error=%s", pk, type(exc).__name__)
    return len(ids), written


# ------------------------------------------------------------------ the client's answer


class LinkUnusable(outbox.LinkUnusable):
    pass


@dataclass(frozen=True)
class OfferPage:
    """What the client's page shows: `state` is open, booked (by them), taken, ended or left."""

    state: str
    offer: WaitlistOffer
    slot: FreedSlot
    appointment: Appointment | None = None


def _offer_for(token: str, *, lock: bool) -> tuple[ClientLink, WaitlistOffer]:
    link = outbox.client_link_find(token=token, purpose=ClientLink.Purpose.WAITLIST_OFFER, lock=lock)
    if link is None:
        raise LinkUnusable
    offer = WaitlistOffer.objects.select_related("slot__practice", "slot__clinician", "entry__client").get(links=link)
    return link, offer


def _state(link: ClientLink, offer: WaitlistOffer, now: datetime) -> str:
    if offer.outcome == Outcome.ACCEPTED:
        return "booked"
    if offer.entry.left_at is not None and offer.entry.left_how != WaitlistEntry.Left.BOOKED:
        return "left"
    slot = offer.slot
    if slot.status in (SlotStatus.TAKEN, SlotStatus.BOOKED_ELSEWHERE) or offer.outcome == Outcome.TAKEN:
        return "taken"
    if (
        slot.status != SlotStatus.OPEN
        or slot.start <= now
        or offer.outcome != Outcome.PENDING
        or link.used_at is not None
        or link.expires_at <= now
        or offer.entry.left_at is not None
    ):
        return "ended"
    return "open"


def offer_page(*, token: str, now: datetime | None = None) -> OfferPage:
    """What the offer page shows. Reads only (mail scanners open links). LinkUnusable for an unknown token."""
    now = now or timezone.now()
    link, offer = _offer_for(token, lock=False)
    state = _state(link, offer, now)
    booked = offer.slot.booked if state == "booked" else None
    return OfferPage(state=state, offer=offer, slot=offer.slot, appointment=booked)


def offer_accept(*, token: str, now: datetime | None = None) -> OfferPage:
    """The client takes the offered time. One transaction, in this lock order:

    1. the link (FOR UPDATE of it only): a double click waits and then sees it used;
    2. the slot (FOR NO KEY UPDATE of it only): of many clients accepting at once, one goes on,
       the rest wait here and then find it taken;
    3. the client's entry (a removal by staff at the same moment goes first or after, never half);
    4. the clinician, inside appointment_book (_check_no_clash): nobody is double-booked, even
       by a booking made outside the waitlist.
    Then the link is used, the slot taken, this offer accepted, the others "taken by someone
    else" (their unsent messages cancelled), and the client leaves the waitlist. Returns the
    page to show: "booked", or "taken" / "ended" / "left" when it could not be had.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        link, offer = _offer_for(token, lock=True)
        slot = FreedSlot.objects.select_for_update(of=("self",), no_key=True).get(pk=offer.slot_id)
        offer.slot = slot
        offer.refresh_from_db(fields=["outcome"])
        # The entry too, so staff removing the client at this moment is seen (or waits for this).
        offer.entry = (
            WaitlistEntry.objects.select_for_update(of=("self",), no_key=True)
            .select_related("client")
            .get(pk=offer.entry_id)
        )
        state = _state(link, offer, now)
        if state != "open":
            return OfferPage(
                state=state, offer=offer, slot=slot, appointment=slot.booked if state == "booked" else None
            )
        client = offer.entry.client
        last = client.appointments.order_by("-start").first()
        try:
            with transaction.atomic():
                [appointment] = appointment_book(
                    practice=slot.practice,
                    client=client,
                    clinician=slot.clinician,
                    start=slot.start,
                    end=slot.end,
                    session_type=last.session_type if last else Appointment.SessionType.INDIVIDUAL,
                    modality=last.modality if last else Appointment.Modality.IN_PERSON,
                    actor=None,
                )
        except ValidationError:
            # Booked outside the waitlist since the offer went out.
            _close_slot(slot, SlotStatus.BOOKED_ELSEWHERE, now)
            log.info("waitlist offer found the time booked offer_id=%s", offer.pk)
            return OfferPage(state="taken", offer=offer, slot=slot)
        outbox.client_link_use(link=link, now=now, new_appointment=appointment)
        slot.status, slot.closed_at, slot.booked = SlotStatus.TAKEN, now, appointment
        slot.save(update_fields=["status", "closed_at", "booked"])
        WaitlistOffer.objects.filter(pk=offer.pk).update(outcome=Outcome.ACCEPTED, answered_at=now)
        _close_offers(
            slot.offers.exclude(pk=offer.pk), outcome=Outcome.TAKEN, code=OutboxMessage.CancelCode.SLOT_GONE, now=now
        )
        entry = offer.entry
        entry.left_at, entry.left_how, entry.booked = now, WaitlistEntry.Left.BOOKED, appointment
        entry.save(update_fields=["left_at", "left_how", "booked"])
        _close_offers(
            entry.offers.exclude(pk=offer.pk),
            outcome=Outcome.LEFT,
            code=OutboxMessage.CancelCode.LEFT_WAITLIST,
            now=now,
        )
        audit_record(
            practice=slot.practice,
            actor=None,
            action="waitlist.offer_accepted",
            obj=offer,
            changes={"slot": slot.pk, "appointment": appointment.pk, "by": "client"},
            client_id=client.pk,
        )
        offer.outcome = Outcome.ACCEPTED
    log.info("waitlist offer accepted offer_id=%s appointment_id=%s", offer.pk, appointment.pk)
    return OfferPage(state="booked", offer=offer, slot=slot, appointment=appointment)


def offer_leave(*, token: str) -> OfferPage:
    """The client leaves the waitlist from an offer's link (any of their offers, whatever its state)."""
    _link, offer = _offer_for(token, lock=False)
    entry_leave(entry=offer.entry, actor=None, how=WaitlistEntry.Left.CLIENT)
    return offer_page(token=token)
