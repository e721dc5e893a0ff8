"""discord.py extensions, one per user-facing area. Thin: parse options, call the core, reply."""
