"""Signing in and out: limits that stop password spraying, resets that reveal nothing, and the audit of each.

django-axes locks a username at one address after five wrong passwords. That
does not stop one address trying one password against many usernames, so
every failure from an address also counts towards an address-wide limit
(ADDRESS_FAILURE_LIMIT in an hour), generous enough for an office behind one
address that mistypes now and then.
"""

import logging

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.dispatch import receiver
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from . import ratelimit
from .models import AuditEvent, Membership

log = logging.getLogger(__name__)

ADDRESS_FAILURE_LIMIT = 30
ADDRESS_WINDOW = 60 * 60
RESET_PER_ADDRESS = 10
RESET_PER_EMAIL = 3


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown") if request is not None else "unknown"


def _address_key(request) -> str:
    return f"login-fail-address:{client_address(request)}"


class LoginView(auth_views.LoginView):
    """Django's login, refusing an address that has failed too often across usernames."""

    redirect_authenticated_user = True

    @method_decorator(sensitive_post_parameters())
    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST" and ratelimit.count(_address_key(request)) >= ADDRESS_FAILURE_LIMIT:
            return render(request, "registration/locked_out.html", {"address_wide": True}, status=429)
        return super().dispatch(request, *args, **kwargs)


# ----------------------------------------------------------------- password reset


class QuietPasswordResetForm(PasswordResetForm):
    """Looks up nothing it would reveal and sends nothing in the request.

    The matching accounts' ids go to a task that renders and sends the mail,
    so the page answers in the same time for a known and an unknown address.
    Requests are limited per address and per email; over the limit the page
    says the same thing and nothing is sent.
    """

    def save(self, *, request=None, use_https=False, **kwargs):
        from .tasks import send_password_reset

        email = self.cleaned_data["email"]
        over = (
            ratelimit.hit(f"reset-address:{client_address(request)}", ADDRESS_WINDOW) > RESET_PER_ADDRESS
            or ratelimit.hit(f"reset-email:{email.lower()}", ADDRESS_WINDOW) > RESET_PER_EMAIL
        )
        users = [] if over else list(self.get_users(email))
        for user in users:
            _audit_account(
                user=user,
                actor=user,
                action="account.password_reset_requested",
                changes={"address": client_address(request)},
            )
        user_ids = [user.pk for user in users]
        try:
            send_password_reset.delay(user_ids, use_https)
        except Exception:  # noqa: BLE001 - a broker that is down must not become a 500
            log.warning("password reset could not be queued")


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QuietPasswordResetForm


# ------------------------------------------------------------------ the audit


def _audit_account(*, user, action: str, actor=None, changes: dict | None = None) -> None:
    """An account event, in the user's practice (or in none: an unknown username, a superuser)."""
    membership = Membership.objects.filter(user=user).select_related("practice").first() if user else None
    AuditEvent.objects.create(
        practice=membership.practice if membership else None,
        actor=actor,
        action=action,
        object_type="auth.user",
        object_id=user.pk if user else 0,
        changes=changes or {},
    )


@receiver(user_logged_in)
def _audit_signed_in(sender, request, user, **kwargs):
    _audit_account(user=user, actor=user, action="account.signed_in", changes={"address": client_address(request)})


@receiver(user_logged_out)
def _audit_signed_out(sender, request, user, **kwargs):
    if user is not None:
        _audit_account(user=user, actor=user, action="account.signed_out")


@receiver(user_login_failed)
def _audit_sign_in_failed(sender, credentials, request=None, **kwargs):
    """A wrong password for a known account goes to its practice; an unknown username to no practice."""
    if request is not None:
        ratelimit.hit(_address_key(request), ADDRESS_WINDOW)
    username = (credentials or {}).get("username", "")
    user = get_user_model().objects.filter(username=username).first() if username else None
    # The attempted name only when it is a real account: an unknown "username"
    # is often a password typed into the wrong box.
    _audit_account(
        user=user,
        action="account.sign_in_failed",
        changes={"address": client_address(request), "known_username": user is not None},
    )
