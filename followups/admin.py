from django.contrib import admin

from practice.admin import PracticeScopedAdmin

from .models import ClientLink, ContactNote, FollowUpPlan, MessageTemplate, MissReason, OutboxMessage, ReminderPlan


@admin.register(FollowUpPlan)
class FollowUpPlanAdmin(PracticeScopedAdmin):
    list_display = ["practice", "enabled", "first_delay_minutes", "second_after_days"]


@admin.register(ReminderPlan)
class ReminderPlanAdmin(PracticeScopedAdmin):
    """Read-only: the reminder plan is edited on the Policies page, where saves are audited."""

    list_display = ["practice", "enabled", "first_hours", "first_channel", "second_hours", "third_hours"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(PracticeScopedAdmin):
    """Read-only: wording is edited on the Policies page, where the wording checker runs and saves are audited."""

    list_display = ["kind", "subject", "updated_at"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(PracticeScopedAdmin):
    """Read-only: send again and cancel live in the message log, where they are audited."""

    list_display = ["purpose", "idempotency_key", "channel", "status", "due_at", "attempts", "template_version"]
    list_filter = ["purpose", "status", "channel", "step"]


@admin.register(ClientLink)
class ClientLinkAdmin(PracticeScopedAdmin):
    list_display = ["purpose", "client", "created_at", "expires_at", "used_at"]
    list_filter = ["purpose"]
    exclude = ["token_hash"]


@admin.register(MissReason)
class MissReasonAdmin(PracticeScopedAdmin):
    list_display = ["appointment", "missed_session", "reason", "created_at"]


@admin.register(ContactNote)
class ContactNoteAdmin(PracticeScopedAdmin):
    list_display = ["missed_session", "contacted_by", "contacted_at"]
