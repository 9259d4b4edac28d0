import time
import zoneinfo

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from . import two_factor
from .models import Membership


class PracticeMiddleware:
    """Attach the user's membership to the request and show times in the practice's zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # .get(), not .first(): a user has one membership (a one-to-one), and .first() would sort by
            # Meta.ordering, a join to the user table on every request (issue 11).
            try:
                request.membership = Membership.objects.select_related("practice").get(user=user, is_active=True)
            except Membership.DoesNotExist:
                request.membership = None
        if request.membership is not None:
            timezone.activate(zoneinfo.ZoneInfo(str(request.membership.practice.time_zone)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class SignInMiddleware:
    """What a signed-in session still needs: not idle too long, and its second factor.

    1. Idle timeout: a session unused for the practice's idle minutes is signed
       out (the last activity is stamped at most once a minute, not on every request).
    2. Two factors: someone who has an app or recovery codes must pass the second
       step; someone who must use two factors and has none is sent to set it up.
       Sign-in pages themselves (/accounts/...), static files and the health check
       are let through.
    """

    OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz/", "/favicon.ico")
    STAMP_EVERY = 60
    DEFAULT_IDLE_MINUTES = 30

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        if self._idle_too_long(request):
            logout(request)
            messages.info(request, "You were signed out after a while with no activity. Please sign in again.")
            return self._send_to(request, reverse("login"))
        if not request.path.startswith(self.OPEN_PREFIXES) and not user.is_verified():
            if self._has_device(request):
                return self._send_to(request, reverse("two_factor_verify"))
            if two_factor.needs_two_factor(user, getattr(request, "membership", None)):
                return self._send_to(request, reverse("two_factor_setup"))
        return self.get_response(request)

    @staticmethod
    def _has_device(request) -> bool:
        """Asked once per session for someone without a device: a device is only
        added through the setup page, which passes the second step itself."""
        if request.session.get("no_second_factor") is True:
            return False
        found = two_factor.has_device(request.user)
        if not found:
            request.session["no_second_factor"] = True
        return found

    def _idle_too_long(self, request) -> bool:
        membership = getattr(request, "membership", None)
        minutes = membership.practice.idle_timeout_minutes if membership else self.DEFAULT_IDLE_MINUTES
        now = int(time.time())
        last = request.session.get("last_seen")
        if isinstance(last, int) and now - last > minutes * 60:
            return True
        if not isinstance(last, int) or now - last >= self.STAMP_EVERY:
            request.session["last_seen"] = now
        return False

    @staticmethod
    def _send_to(request, url: str) -> HttpResponse:
        target = f"{url}?{urlencode({'next': request.get_full_path()})}" if request.method == "GET" else url
        if getattr(request, "htmx", False):
            # htmx would swap the sign-in page into a table row; send the whole window instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
