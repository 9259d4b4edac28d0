"""What a client sees of a booked session: the confirmation's details and its calendar file.

Minimum content, as for messages: a first name, a time, a place or "video",
the practice's neutral sender name and phone. No session type, no clinical
words, nothing about the miss that led to the booking.
"""

from datetime import datetime

from django.utils import timezone
from icalendar import Calendar, Event

from practice import timefmt


def session_details(appointment) -> dict:
    """What the confirmation page shows, in the practice's zone."""
    practice = appointment.practice
    zone = practice.time_zone
    is_video = appointment.modality == appointment.Modality.TELEHEALTH
    return {
        "start": timezone.localtime(appointment.start, zone),
        "end": timezone.localtime(appointment.end, zone),
        "minutes": int(appointment.duration.total_seconds() // 60),
        "zone_name": timefmt.zone_label(practice),
        "clinician_first_name": appointment.clinician.first_name or "your therapist",
        "is_video": is_video,
        "address": "" if is_video else practice.address,
        "video_instructions": practice.video_instructions if is_video else "",
        "phone": practice.phone_display,
        "phone_e164": practice.phone_e164,
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
