"""What tests share: servers and fakes, data they build, settings small enough for a CPU.

A test module imports from here and never from another test module (tests/unit/test_suite.py
checks), so moving or deleting one test never breaks another. The helpers that start
processes of their own or need Debian packages, `postgres` and `prefect_api`, serve the
integration tests only; the unit tier (`make test-unit`) uses the rest.
"""
