"""`python -m benchmarks`: run the whole benchmark and print the results table."""

from benchmarks.run import main

raise SystemExit(main())
