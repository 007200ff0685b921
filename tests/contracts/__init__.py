"""Contract suites: one set of tests that a port's fake and its real adapters all pass."""
