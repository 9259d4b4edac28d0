from django.urls import path

from . import views

app_name = "waitlist"

urlpatterns = [
    path("waitlist/", views.waitlist, name="waitlist"),
    path("waitlist/add/", views.entry_add, name="entry_add"),
    path("waitlist/settings/", views.plan_save, name="plan_save"),
    path("waitlist/<int:pk>/", views.entry_edit, name="entry_edit"),
    path("waitlist/<int:pk>/remove/", views.entry_remove, name="entry_remove"),
    path("waitlist/freed/<int:pk>/", views.slot_detail, name="slot"),
    path("w/<str:token>/", views.offer, name="offer"),
]
