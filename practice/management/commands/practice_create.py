"""Set up a new practice from nothing, with an invitation for its first admin.

    manage.py practice_create --name "Maple Street Practice" --time-zone Europe/London \
        --country GB --admin-email alex@example.org

Prints the invitation link for the operator to hand over (stdout only: the
link is a credential, so it never reaches the log). Bad arguments exit with
code 2 and change nothing.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from practice.models import StaffInvitation
from practice.services import practice_create

# The service's field names, as the operator typed them.
OPTIONS = {
    "name": "--name",
    "sender_name": "--sender-name",
    "time_zone": "--time-zone",
    "country": "--country",
    "phone": "--phone",
    "email": "--admin-email",
    "first_name": "--admin-first-name",
    "last_name": "--admin-last-name",
}


class Command(BaseCommand):
    help = "Create a practice (with its default plans and ladder) and an invitation for its first admin."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The practice's name, unique.")
        parser.add_argument("--time-zone", required=True, help="A tz database name, e.g. Europe/London.")
        parser.add_argument("--country", required=True, help="Two-letter country code, e.g. GB.")
        parser.add_argument("--admin-email", required=True, help="The first practice admin's email address.")
        parser.add_argument("--admin-first-name", default="", help="The first admin's first name (optional).")
        parser.add_argument("--admin-last-name", default="", help="The first admin's last name (optional).")
        parser.add_argument(
            "--sender-name",
            default="",
            help="Neutral name on messages to clients (default: the practice's name; change it in Settings).",
        )
        parser.add_argument("--phone", default="", help="The practice's phone (optional).")

    def handle(self, *args, **options):
        try:
            made = practice_create(
                name=options["name"],
                time_zone=options["time_zone"],
                country=options["country"],
                sender_name=options["sender_name"],
                phone=options["phone"],
                first_admin_email=options["admin_email"],
                first_admin_first_name=options["admin_first_name"],
                first_admin_last_name=options["admin_last_name"],
            )
        except ValidationError as exc:
            lines = [
                f"{OPTIONS[field]}: {message}" if field in OPTIONS else message
                for field, messages in getattr(exc, "message_dict", {"": exc.messages}).items()
                for message in messages
            ]
            raise CommandError("Nothing was created.\n" + "\n".join(lines), returncode=2) from None
        link = settings.SITE_URL + reverse("staff_invitation", args=[made.token])
        self.stdout.write(self.style.SUCCESS(f"Created practice #{made.practice.pk}: {made.practice.name}"))
        self.stdout.write("Default follow-up and reminder plans and the default ladder are in place.")
        self.stdout.write(
            f"Give this link to the first practice admin (valid {StaffInvitation.VALID_DAYS} days, single use):"
        )
        self.stdout.write(f"  {link}")
        self.stdout.write("They choose a password, then set up two-factor sign-in.")
