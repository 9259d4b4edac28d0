from django.contrib import admin

from practice.admin import PracticeScopedAdmin

from .models import Acknowledgement, EscalationStep, FeeAssessment, FeeChange, FeeOverride, PolicyVersion, SafetyCheck


class FeeOverrideInline(admin.TabularInline):
    model = FeeOverride
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(PracticeScopedAdmin):
    """Versions are saved on the Policies page and never edited."""

    list_display = ["number", "effective_at", "no_show_fee", "late_cancel_fee", "notice_hours"]
    inlines = [FeeOverrideInline]


@admin.register(Acknowledgement)
class AcknowledgementAdmin(PracticeScopedAdmin):
    list_display = ["client", "version", "method", "acknowledged_at"]
    list_filter = ["method"]


@admin.register(SafetyCheck)
class SafetyCheckAdmin(PracticeScopedAdmin):
    list_display = ["missed_session", "clinician", "created_at", "alert_sent_at", "completed_at"]


class FeeChangeInline(admin.TabularInline):
    model = FeeChange
    extra = 0
    can_delete = False
    readonly_fields = ["at", "actor", "from_state", "to_state", "reason_code", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FeeAssessment)
class FeeAssessmentAdmin(PracticeScopedAdmin):
    """Fees change through the Fees page, where every change is recorded with its reason."""

    list_display = ["missed_session", "client", "state", "amount", "rule_detail"]
    list_filter = ["state", "rule"]
    inlines = [FeeChangeInline]


@admin.register(EscalationStep)
class EscalationStepAdmin(PracticeScopedAdmin):
    """Read-only: the ladder is changed on Policies → Repeated misses, through the audited services."""

    list_display = ["count", "window_days", "title", "updated_at"]
