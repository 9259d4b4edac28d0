"""The one way a view fetches an upload: another practice's, or a non-admin, is a 404."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from . import selectors
from .models import ImportUpload


def get_upload_for_user(request: HttpRequest, pk: int) -> ImportUpload:
    return get_object_or_404(
        selectors.uploads_for(request.membership).select_related("practice", "default_clinician"), pk=pk
    )
