"""A browser's worth of HTTP for the fault suite: cookies, the CSRF token, sign-in. Stdlib only."""

import http.client
import re
import threading
from collections import Counter
from http.cookies import SimpleCookie
from urllib.parse import urlencode

TIMEOUT = 60


class Tally:
    """Answers by status, across threads. Status 0 is a request that got no answer at all."""

    def __init__(self) -> None:
        self.statuses: Counter = Counter()
        self.lock = threading.Lock()

    def add(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500 or status == 0)

    def summary(self) -> str:
        return " ".join(f"{status or 'no answer'}×{count}" for status, count in sorted(self.statuses.items()))


class Browser:
    def __init__(self, port: int, tally: Tally) -> None:
        self.port, self.tally = port, tally
        self.cookies: dict[str, str] = {}
        # Once signed in, threads share the cookies and nobody changes them.
        self.frozen = False

    def request(self, method: str, path: str, fields: dict | None = None, *, htmx: bool = False) -> tuple[int, str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if method == "POST":
            body = urlencode(fields or {})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            if "csrftoken" in self.cookies:
                headers["X-CSRFToken"] = self.cookies["csrftoken"]
        if htmx:
            headers["HX-Request"] = "true"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            status = response.status
            if not self.frozen:
                for header in response.msg.get_all("Set-Cookie") or []:
                    cookie = SimpleCookie()
                    cookie.load(header)
                    for name, morsel in cookie.items():
                        self.cookies[name] = morsel.value
        except (OSError, http.client.HTTPException):
            status, text = 0, ""
        finally:
            conn.close()
        self.tally.add(status)
        return status, text

    def sign_in(self, username: str, password: str) -> None:
        self.request("GET", "/accounts/login/")
        status, _ = self.request("POST", "/accounts/login/", {"username": username, "password": password})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"sign-in as {username} answered {status}")
        self.frozen = True


def slot_values(page: str) -> list[str]:
    """The times a rebooking page offers (the radio buttons named "slot")."""
    found = []
    for tag in re.findall(r"<input[^>]*>", page):
        if re.search(r'name="slot"', tag):
            value = re.search(r'value="([^"]+)"', tag)
            if value:
                found.append(value.group(1).replace("&#x2B;", "+").replace("&#43;", "+"))
    return found
