"""Email as a subject / text / html template trio (after healthchecks' hc/lib/emails.py)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def render_email(name: str, context: dict) -> tuple[str, str, str]:
    """Render templates/emails/<name>-subject.txt, -body.txt and -body.html."""
    subject = render_to_string(f"emails/{name}-subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"emails/{name}-body.txt", context)
    html = render_to_string(f"emails/{name}-body.html", context)
    return subject, text, html


def contact_line(*, phone: str, reply_to: str, by_email: bool) -> str:
    """How a client can reach a person, from what the practice has set; "" if nothing.

    Used in every message to a client (follow-ups as `{contact_line}`, the
    acknowledgement email), so none reads "call us on ." for a practice without a phone.
    """
    can_reply = by_email and bool(reply_to)
    if can_reply and phone:
        return f"You can reply to this email or call us on {phone}."
    if can_reply:
        return "You can reply to this email."
    if phone:
        return f"You can call us on {phone}."
    return ""


def header_safe(value: str) -> str:
    """A value bound for a mail header, or "" if it could add a header of its own.
    Forms refuse line breaks at input; this keeps a row written some other way harmless."""
    return "" if "\r" in value or "\n" in value else value.strip()


def send_email(
    name: str,
    *,
    to: str,
    context: dict,
    from_name: str = "",
    message_id: str = "",
    reply_to: str = "",
) -> None:
    """Send one email. For a message to a client, pass the practice's `reply_to`
    (its reply-to address), so that a reply reaches a person."""
    subject, text, html = render_email(name, {"site_url": settings.SITE_URL, **context})
    from_email = settings.DEFAULT_FROM_EMAIL
    if from_name:
        # Keep the address, show the practice's neutral sender name.
        address = from_email.rsplit("<", 1)[-1].rstrip(">") if "<" in from_email else from_email
        from_email = f"{from_name} <{address}>"
    headers = {"Message-ID": message_id} if message_id else {}
    reply_to = header_safe(reply_to)
    message = EmailMultiAlternatives(
        subject, text, from_email, [to], headers=headers, reply_to=[reply_to] if reply_to else None
    )
    message.attach_alternative(html, "text/html")
    message.send()
