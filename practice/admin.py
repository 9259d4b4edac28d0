"""Django admin, scoped: staff who are not superusers see their own practice only."""

from django.contrib import admin
from django.contrib.auth import get_user_model

from .models import AuditEvent, Membership, Practice, StaffInvitation
from .services import SETTINGS_FIELDS, audit_record


def _practice_id(request):
    membership = getattr(request, "membership", None)
    return membership.practice_id if membership is not None else None


def _is_practice_admin(request) -> bool:
    membership = getattr(request, "membership", None)
    return request.user.is_staff and membership is not None and membership.is_admin


class PracticeAdminPermissions:
    """Practice admins (staff with the admin role) may view their practice's rows
    without per-model permissions."""

    def has_module_permission(self, request):
        return _is_practice_admin(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _is_practice_admin(request) or super().has_view_permission(request, obj)


class ReadOnlyAdminMixin:
    """For records that only services write: admin shows them, never changes them.

    Saving through admin would skip what the services enforce (no double
    booking, no name in a subject line, the audit trail, the after-miss work).
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PracticeScopedAdmin(ReadOnlyAdminMixin, PracticeAdminPermissions, admin.ModelAdmin):
    """For models with a `practice` foreign key: read-only, scoped.

    Superusers see everything. Other staff see only rows of their own
    practice, and every foreign key admin would render (a label, a choice)
    comes from that practice too. Daily work happens on the app's pages,
    through the services; a subclass that allows writes (`WritableScopedAdmin`)
    audits every save.
    """

    audit_action = ""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(practice_id=_practice_id(request))

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            exclude.append("practice")
        return exclude

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser or field is None:
            return field
        model = db_field.remote_field.model
        practice_id = _practice_id(request)
        if model is get_user_model():
            field.queryset = field.queryset.filter(membership__practice_id=practice_id)
        elif any(f.name == "practice" for f in model._meta.fields):
            field.queryset = field.queryset.filter(practice_id=practice_id)
        return field


class WritableScopedAdmin(PracticeScopedAdmin):
    """Practice admins may add and change these rows (no services stand behind them yet)."""

    def has_add_permission(self, request, obj=None):
        return _is_practice_admin(request) or request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return _is_practice_admin(request) or request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if not change and not request.user.is_superuser:
            obj.practice_id = _practice_id(request)
        super().save_model(request, obj, form, change)
        audit_record(
            practice=obj.practice,
            actor=request.user,
            action=self.audit_action or f"{obj._meta.model_name}.admin_saved",
            obj=obj,
            changes={"fields": sorted(form.changed_data)},
        )


@admin.register(Practice)
class PracticeAdmin(PracticeAdminPermissions, admin.ModelAdmin):
    """A practice admin changes their own practice's settings (audited); only superusers add one."""

    list_display = ["name", "time_zone", "sender_name"]

    def get_readonly_fields(self, request, obj=None):
        # Settings change on the Settings page, through practice_update (validated,
        # the zone change confirmed, audited); admin only creates practices.
        # The Twilio number replies are routed by is the operators' (superusers'): a practice
        # admin who set another practice's number would receive its clients' replies.
        operators_only = () if request.user.is_superuser else ("sms_from_number",)
        if obj is not None:
            return (*SETTINGS_FIELDS, *operators_only)
        return operators_only

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(pk=_practice_id(request))

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return _is_practice_admin(request) or request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            practice=obj,
            actor=request.user,
            action="practice.admin_changed",
            obj=obj,
            changes={"fields": sorted(form.changed_data)},
        )


@admin.register(Membership)
class MembershipAdmin(PracticeScopedAdmin):
    """Read-only for practice admins: invitations, roles and deactivation happen on the Staff page,
    through the services (the last-admin rule, the hand-over, the audit). A superuser may add the
    first admin of a new practice here."""

    list_display = ["user", "role", "is_clinician", "is_active"]
    list_filter = ["role", "is_active"]

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            practice=obj.practice,
            actor=request.user,
            action="membership.admin_saved",
            obj=obj,
            changes={"fields": sorted(form.changed_data)},
        )


@admin.register(StaffInvitation)
class StaffInvitationAdmin(PracticeScopedAdmin):
    list_display = ["email", "role", "created_at", "expires_at", "accepted_at", "withdrawn_at"]
    exclude = ["token_hash"]


@admin.register(AuditEvent)
class AuditEventAdmin(PracticeScopedAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id"]
    list_filter = ["action"]
