"""The domain: functions that take a Session and plain values, flush, and never commit."""
