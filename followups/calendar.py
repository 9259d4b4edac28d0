"""What a client sees of a booked session: the confirmation's details and its calendar file.

Minimum content, as for messages: a first name, a time, a place or "video",
the practice's neutral sender name and phone. No session type, no clinical
words, nothing about the miss that led to the booking.
"""

from datetime import datetime

import phonenumbers
from django.utils import timezone
from icalendar import Calendar, Event

# Friendly names for the zones US practices use; any other zone is named by its key.
ZONE_NAMES = {
    "America/New_York": "Eastern Time",
    "America/Detroit": "Eastern Time",
    "America/Chicago": "Central Time",
    "America/Denver": "Mountain Time",
    "America/Phoenix": "Mountain Time (Arizona)",
    "America/Los_Angeles": "Pacific Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
}


def zone_name(zone) -> str:
    key = str(zone)
    return ZONE_NAMES.get(key, key.replace("_", " ") + " time")


def phone_e164(practice) -> str:
    """The practice phone for a tel: link, in E.164 when it parses; else digits and + only."""
    raw = practice.phone or ""
    try:
        parsed = phonenumbers.parse(raw, getattr(practice, "country", "US") or "US")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return "".join(ch for ch in raw if ch.isdigit() or ch == "+")


def session_details(appointment) -> dict:
    """What the confirmation page shows, in the practice's zone."""
    practice = appointment.practice
    zone = practice.time_zone
    is_video = appointment.modality == appointment.Modality.TELEHEALTH
    return {
        "start": timezone.localtime(appointment.start, zone),
        "end": timezone.localtime(appointment.end, zone),
        "minutes": int(appointment.duration.total_seconds() // 60),
        "zone_name": zone_name(zone),
        "clinician_first_name": appointment.clinician.first_name or "your therapist",
        "is_video": is_video,
        "address": "" if is_video else practice.address,
        "video_instructions": practice.video_instructions if is_video else "",
        "phone": practice.phone,
        "phone_e164": phone_e164(practice),
        "sender_name": practice.sender_name,
    }


def session_ics(appointment, *, now: datetime | None = None) -> bytes:
    """An iCalendar file with one event for the session (RFC 5545), times in UTC."""
    details = session_details(appointment)
    calendar = Calendar()
    calendar.add("prodid", "-//Reconnect//Booked session//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}@reconnect")
    event.add("dtstamp", now or timezone.now())
    event.add("dtstart", appointment.start)
    event.add("dtend", appointment.end)
    event.add("summary", f"Appointment with {details['clinician_first_name']}")
    lines = [details["sender_name"]]
    if details["is_video"]:
        event.add("location", "Video session")
        if details["video_instructions"]:
            lines.append(details["video_instructions"])
    elif details["address"]:
        event.add("location", " ".join(details["address"].split()))
    if details["phone"]:
        lines.append(f"To change it, call {details['phone']}.")
    event.add("description", "\n".join(lines))
    calendar.add_component(event)
    return calendar.to_ical()
