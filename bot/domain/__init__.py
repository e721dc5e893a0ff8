"""What the bot is about, as plain data: jobs, quota tiers, guild configuration, ledger rows.

No I/O and no imports from the layers above: the store persists these records and
the services reason about them, so both import this package and neither imports
the other's internals.
"""
