from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "waitlist"

    def ready(self) -> None:
        # The outbox purpose is registered from here, so followups never imports waitlist
        # (dependencies point one way: the outbox below, the waitlist on top of it).
        from followups import purposes

        from . import offers

        purposes.register(purposes.OFFER, purposes.Purpose(check=offers.offer_check, compose=offers.offer_compose))
