"""With Redis (the shared cache) down, the client's rebooking page still answers, and still limits guessing."""

import pytest
from django.test import override_settings

from followups.views import BAD_LINK_LIMIT

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: every cache call fails at once.
DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@override_settings(CACHES=DEAD_REDIS)
def test_bad_links_get_the_kind_page_and_then_the_limit_with_the_cache_down(client):
    for n in range(BAD_LINK_LIMIT):
        response = client.get(f"/r/guess-{n}/", REMOTE_ADDR="192.0.2.44")
        assert response.status_code == 404, n
        assert b"link" in response.content.lower()
    limited = client.get("/r/guess-last/", REMOTE_ADDR="192.0.2.44")
    assert limited.status_code == 429
    # Another address is not limited by the first one's guesses.
    assert client.get("/r/guess-other/", REMOTE_ADDR="192.0.2.45").status_code == 404
