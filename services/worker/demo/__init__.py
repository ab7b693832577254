"""Demo model bundles, built deterministically from generated or bundled data (no downloads)."""
