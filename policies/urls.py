from django.urls import path

from . import views

app_name = "policies"

urlpatterns = [
    path("policies/", views.policy, name="policy"),
    path("policies/acknowledgements/send/", views.ack_requests_send, name="ack_requests_send"),
    path("policies/acknowledgements/progress/", views.ack_requests_progress, name="ack_requests_progress"),
    path("fees/", views.fees, name="fees"),
    path("fees/<int:pk>/action/", views.fee_action, name="fee_action"),
    path("clients/<int:client_pk>/acknowledgement/", views.acknowledgement_record, name="ack_record"),
    path("clients/<int:client_pk>/acknowledgement/link/", views.acknowledgement_send_link, name="ack_send_link"),
    path("policy/ack/<str:token>/", views.acknowledgement_public, name="ack_public"),
    path("safety-checks/<int:pk>/done/", views.safety_check_complete, name="safety_check_done"),
]
