"""The marking bench's data (bench/marking.py): the page bench's practice, plus past sessions to mark.

Run inside Django (`python -m bench.marking_seed --per-clinician N`). Bench databases only
(bench/pages_seed.py refuses any other). On top of bench/pages_seed.py's practice it gives every
clinician an authenticator app (so they sign in with two factors, as staff do) and N past
sessions still needing an outcome, 30 minutes apart in the afternoons of the past days, each
with one of the clinician's own clients. Prints one JSON line: what pages_seed prints, the
clinicians' usernames and TOTP keys, and each clinician's session ids, oldest first.
"""

import argparse
import json
import os
import zoneinfo
from datetime import datetime, time, timedelta

import django

SLOTS_PER_DAY = 10  # 12:00 to 16:30 local: clear of pages_seed's 07:00, 09:00 and 11:00 sessions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-clinician", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.production")
    django.setup()

    from django.db import transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from appointments.models import Appointment, Client
    from bench.pages_seed import seed
    from practice.models import Membership, Practice

    with transaction.atomic():
        result = seed()
        practice = Practice.objects.get(name="Bench Practice")
        tz = zoneinfo.ZoneInfo(str(practice.time_zone))
        today = timezone.now().astimezone(tz).date()
        clinicians = []
        rows = []
        memberships = Membership.objects.filter(practice=practice, is_clinician=True).select_related("user")
        for membership in memberships.order_by("user__username"):
            user = membership.user
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
            clinicians.append({"username": user.username, "totp_key": device.key, "user_id": user.pk})
            clients = list(Client.objects.filter(practice=practice, clinician=user).order_by("pk"))
            for n in range(args.per_clinician):
                day = today - timedelta(days=1 + n // SLOTS_PER_DAY)
                slot = n % SLOTS_PER_DAY
                start = datetime.combine(day, time(12 + slot // 2, 30 * (slot % 2)), tzinfo=tz)
                rows.append(
                    Appointment(
                        practice=practice,
                        client=clients[n % len(clients)],
                        clinician=user,
                        start=start,
                        end=start + timedelta(minutes=25),
                        status=Appointment.Status.SCHEDULED,
                    )
                )
        created = Appointment.objects.bulk_create(rows)
        for entry in clinicians:
            entry["sessions"] = sorted(a.pk for a in created if a.clinician_id == entry["user_id"])
    print(json.dumps({**result, "clinicians": clinicians}))


if __name__ == "__main__":
    main()
