from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("import/", views.import_start, name="start"),
    path("import/<int:pk>/", views.import_preview, name="preview"),
    path("import/<int:pk>/done/", views.import_done, name="done"),
]
