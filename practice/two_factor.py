"""Two-factor sign-in for staff, on django-otp: an authenticator app (TOTP) and recovery codes.

Practice admins always use it, and every member of staff when the practice
asks (`Practice.require_two_factor`). `SignInMiddleware` (practice/middleware.py)
sends a signed-in person who has not passed the second step to verify, or,
if they have no device yet and need one, to set one up. Django admin's own
login is covered the same way: the middleware stands in front of every page.
"""

import base64
import io
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

from .models import Membership
from .services import audit_record

RECOVERY_CODES = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"


def needs_two_factor(user: AbstractBaseUser, membership: Membership | None) -> bool:
    if user.is_superuser or user.is_staff:
        return True
    return membership is not None and membership.needs_two_factor


def has_device(user: AbstractBaseUser) -> bool:
    return user_has_device(user, confirmed=True)


def enrollment_device(user: AbstractBaseUser) -> TOTPDevice:
    """The unconfirmed app device being set up (the same one until confirmed, so a reload keeps the QR code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an SVG QR code (a data: URI, so the strict CSP holds)."""
    out = io.BytesIO()
    write_qrcode_image(device.config_url, out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def secret_for_typing(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for apps where the code cannot be scanned."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def enrollment_confirm(*, user: AbstractBaseUser, device: TOTPDevice, token: str, practice=None) -> list[str] | None:
    """Confirm the app with a code from it. Returns fresh recovery codes (shown once), or None if the code was wrong.

    Confirming replaces any earlier app and recovery codes: one of each per person.
    """
    if device.user_id != user.pk or device.confirmed or not device.verify_token(token.strip().replace(" ", "")):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_replace(user=user)
        if practice is not None:
            audit_record(practice=practice, actor=user, action="account.two_factor_enrolled", obj=device)
    return codes


def recovery_codes_replace(*, user: AbstractBaseUser) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def verify(*, user: AbstractBaseUser, token: str):
    """The device the code belongs to (app or a recovery code, which is then used up), or None.

    Each device throttles guesses itself (django-otp's ThrottlingMixin): after a
    wrong code the next try must wait, doubling each time.
    """
    token = token.strip().replace(" ", "").replace("-", "")
    if not token.isdigit() or len(token) > 10:
        return None
    for device in devices_for_user(user, confirmed=True):
        if device.verify_is_allowed()[0] and device.verify_token(token):
            return device
    return None
