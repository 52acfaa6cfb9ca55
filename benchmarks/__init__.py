"""Benchmarks of the SDK against raw aiohttp and pywa_async: `python -m benchmarks --help`."""
