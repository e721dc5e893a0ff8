"""The Discord side: the bot object, status messages, clip delivery, persistent buttons.

With `cogs/`, the only code that imports discord.py. It holds no job state of its
own: everything it needs after a restart is in the core's database.
"""
