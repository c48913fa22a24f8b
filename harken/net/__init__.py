"""What every network call shares, whatever its client library: a total deadline."""
