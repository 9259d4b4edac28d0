from django.urls import path

from . import views

app_name = "engagement"

urlpatterns = [
    path("clients/<int:client_pk>/reflection-notes/", views.reflection_note_add, name="note_add"),
    path("reflection-notes/<int:pk>/", views.reflection_note_edit, name="note"),
    path("check-ins/<int:pk>/", views.checkin, name="checkin"),
    path("policies/repeated-misses/", views.ladder, name="ladder"),
    path("policies/repeated-misses/<int:pk>/", views.ladder_step, name="ladder_step"),
    path("policies/repeated-misses/<int:pk>/remove/", views.ladder_step_delete, name="ladder_step_delete"),
]
