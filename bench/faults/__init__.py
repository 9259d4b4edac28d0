"""`make faults`: the fault suite (issue 8). Run `python -m bench.faults`; see docs/operations.md."""
