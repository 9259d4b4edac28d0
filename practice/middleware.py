import zoneinfo

from django.utils import timezone

from .models import Membership


class PracticeMiddleware:
    """Attach the user's membership to the request and show times in the practice's zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            request.membership = Membership.objects.select_related("practice").filter(user=user, is_active=True).first()
        if request.membership is not None:
            timezone.activate(zoneinfo.ZoneInfo(str(request.membership.practice.time_zone)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
