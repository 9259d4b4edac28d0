from django.urls import path

from . import hooks, views

app_name = "followups"

urlpatterns = [
    path("policies/followups/plan/", views.plan_save, name="plan_save"),
    path("policies/reminders/plan/", views.reminder_plan_save, name="reminder_plan_save"),
    path("policies/followups/templates/preview/", views.template_preview, name="template_preview"),
    path("policies/followups/templates/<str:kind>/", views.template_edit, name="template_edit"),
    path("messages/", views.message_log, name="messages"),
    path("messages/<int:pk>/send-again/", views.message_action, {"action": "send-again"}, name="send_again"),
    path("messages/<int:pk>/cancel/", views.message_action, {"action": "cancel"}, name="cancel"),
    path("missed/<int:event_pk>/contacted/", views.contacted, name="contacted"),
    path("r/<str:token>/", views.reschedule, name="reschedule"),
    path("c/<str:token>/", views.confirm, name="confirm"),
    path("cancel/<str:token>/", views.session_response, {"purpose": "cant_make_it"}, name="cant_make_it"),
    path("move/<str:token>/", views.session_response, {"purpose": "move"}, name="move"),
    path("hooks/twilio/status/", hooks.twilio_status, name="twilio_status"),
    path("hooks/twilio/inbound/", hooks.twilio_inbound, name="twilio_inbound"),
    path("hooks/mailgun/tracking/", hooks.email_tracking, name="email_tracking"),
    path("r/<str:token>/calendar.ics", views.reschedule_calendar, name="reschedule_calendar"),
]
