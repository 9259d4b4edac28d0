"""Read-only and scoped: the Waitlist page writes, through waitlist/services.py (audited)."""

from django.contrib import admin

from practice.admin import PracticeScopedAdmin, _practice_id

from .models import FreedSlot, WaitlistEntry, WaitlistOffer, WaitlistPlan


@admin.register(WaitlistPlan)
class WaitlistPlanAdmin(PracticeScopedAdmin):
    list_display = ["practice", "enabled", "hold_minutes", "min_lead_hours", "offers_per_round"]


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(PracticeScopedAdmin):
    list_display = ["client", "joined_at", "expires_on", "left_at", "left_how"]
    list_filter = ["left_how"]


@admin.register(FreedSlot)
class FreedSlotAdmin(PracticeScopedAdmin):
    list_display = ["start", "clinician", "cause", "status", "round", "round_until"]
    list_filter = ["status", "cause"]


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(PracticeScopedAdmin):
    """An offer has no practice of its own: it is scoped through its freed slot."""

    list_display = ["slot", "entry", "round", "offered_at", "held_until", "outcome"]
    list_filter = ["outcome"]
    exclude = ["links"]

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return qs
        return qs.filter(slot__practice_id=_practice_id(request))

    def get_exclude(self, request, obj=None):
        return ["links"]
