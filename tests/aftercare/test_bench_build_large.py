"""`manage.py bench_build_large` refuses any database but a PostgreSQL bench_* one, and a full disk."""

import shutil
from collections import namedtuple

import pytest
from django.core.management import CommandError, call_command

from aftercare.management.commands import bench_build_large

pytestmark = pytest.mark.django_db


def test_it_refuses_a_database_that_is_not_a_bench_database():
    with pytest.raises(CommandError, match="only to a PostgreSQL database named bench_"):
        call_command("bench_build_large", "--practices", "1", "--appointments", "10")


def test_it_refuses_when_the_disk_is_too_full(monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 10**9, 10**9))
    with pytest.raises(CommandError, match="Not enough free disk space") as refused:
        bench_build_large.Command()._check_disk(1_000_000)
    assert "0.9 GB free" in str(refused.value)


def test_columns_without_a_value_are_an_error_before_any_row_is_written():
    from practice.models import Practice

    with pytest.raises(CommandError, match="no value for Practice.sender_name"):
        bench_build_large.insert_select(Practice, {"name": "'x'"}, "generate_series(1, 1) AS g")
    assert Practice.objects.count() == 0
