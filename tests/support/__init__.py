"""Reusable test helpers: a scripted HTTP server, request backends, reference samples."""
