"""Black-box test harness: mock upstream, raw HTTP client, nginx and gateway processes."""
