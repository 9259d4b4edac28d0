"""Thin tasks of the practice level."""

from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


@shared_task(acks_late=True, reject_on_worker_lost=False)
def send_password_reset(user_ids: list[int], use_https: bool) -> int:
    """Send the reset mail to each account (ids only in the task's arguments).

    Not redelivered if the worker dies mid-send: a person asks again sooner
    than they would forgive two reset mails.
    """
    from django.contrib.auth.forms import PasswordResetForm

    site = urlsplit(settings.SITE_URL)
    sent = 0
    for user in get_user_model().objects.filter(pk__in=user_ids, is_active=True):
        context = {
            "email": user.email,
            "domain": site.netloc,
            "site_name": "Reconnect",
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "user": user,
            "token": default_token_generator.make_token(user),
            "protocol": site.scheme or ("https" if use_https else "http"),
        }
        PasswordResetForm().send_mail(
            "registration/password_reset_subject.txt",
            "registration/password_reset_email.html",
            context,
            None,
            user.email,
        )
        sent += 1
    return sent


@shared_task(acks_late=True, reject_on_worker_lost=False)
def send_staff_invitation(invitation_id: int) -> bool:
    """Email one invitation's link (the invitation's id only in the task's arguments).

    The token is made here, so it never passes through the broker. Not
    redelivered if the worker dies mid-send; the admin can send it again.
    """
    from django.urls import reverse

    from .emails import send_email
    from .services import staff_invitation_issue_link

    invitation, token = staff_invitation_issue_link(invitation_id=invitation_id)
    if not token:
        return False
    send_email(
        "staff-invitation",
        to=invitation.email,
        context={
            "invitation": invitation,
            "practice": invitation.practice,
            "url": settings.SITE_URL + reverse("staff_invitation", args=[token]),
            "days": invitation.VALID_DAYS,
        },
    )
    return True
