"""Who may use which view. Every view that shows practice data goes through here."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def membership_required(view=None, *, admin_only: bool = False, whole_practice: bool = False):
    """Require a logged-in user with an active membership.

    `whole_practice` admits practice admins and front desk; `admin_only`
    admits practice admins. Anyone else gets a 403: the page exists, but
    is not theirs. Objects outside a user's scope are 404s, decided by
    the selectors, not here.
    """

    def decorator(func):
        @login_required
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            membership = request.membership
            if membership is None:
                raise PermissionDenied("Your account is not part of a practice.")
            if admin_only and not membership.is_admin:
                raise PermissionDenied("Only practice admins can open this page.")
            if whole_practice and not membership.sees_whole_practice:
                raise PermissionDenied("Only practice admins and front desk can open this page.")
            return func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator
