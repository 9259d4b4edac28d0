# The after-miss pipeline keeps no tables of its own: its pending work is
# appointments.NoShowEvent rows whose processed_at is null.
