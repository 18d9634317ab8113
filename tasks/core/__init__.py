"""What every stage shares: the records passed between tasks (records), Deep Lake access
(lake), cache keys and retries (caching), quarantined records (quarantine), s3:// locations
(storage), the process environment (environment), the clock (clock), the Dask runner
(runner) and the reliability suite's kill points (failpoints).

Imports nothing from the stages. Anything here is part of every stage's cache key, so it
changes rarely and only with the stages in mind.
"""
