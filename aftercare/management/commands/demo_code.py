"""Print the current two-factor code of a demo account, so the demo needs no phone.

Only for accounts of the demo practices that `seed_demo` makes; any other
username is refused.
"""

from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Print the current sign-in code of a demo account (demo practices only)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        device = (
            TOTPDevice.objects.filter(
                user__username=username,
                user__membership__practice__name__startswith="Demo Practice",
                confirmed=True,
            )
            .order_by("-id")
            .first()
        )
        if device is None:
            raise CommandError(f"{username!r} is not a demo account with two-factor sign-in (run seed_demo first).")
        self.stdout.write(f"{totp(device.bin_key, device.step, device.t0, device.digits):0{device.digits}d}")
