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


def send_email(
    name: str,
    *,
    to: str,
    context: dict,
    from_name: str = "",
    message_id: str = "",
) -> None:
    subject, text, html = render_email(name, {"site_url": settings.SITE_URL, **context})
    from_email = settings.DEFAULT_FROM_EMAIL
    if from_name:
        # Keep the address, show the practice's neutral sender name.
        address = from_email.rsplit("<", 1)[-1].rstrip(">") if "<" in from_email else from_email
        from_email = f"{from_name} <{address}>"
    headers = {"Message-ID": message_id} if message_id else {}
    message = EmailMultiAlternatives(subject, text, from_email, [to], headers=headers)
    message.attach_alternative(html, "text/html")
    message.send()
