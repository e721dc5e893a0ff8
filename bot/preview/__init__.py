"""The local browser preview: the real bot inside SimCord's simulated Discord, no token needed.

`session` runs it, `world` seeds the simulated server, and `live` leans on SimCord
internals (clock alignment and host-driven refresh); the bot's background work, which
page actions must not wait for, is started in `bot/discord_glue/simcord_host.py`.
"""
