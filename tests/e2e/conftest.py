"""Browser tests: the fixtures (`browser`, `new_page`, `page`, `page_errors`) live in
tests/browser_fixtures.py, registered once for the whole suite in tests/conftest.py,
so this folder and tests/journey share one Chromium."""
