"""The local browser preview: the real bot inside SimCord's simulated Discord, no token needed.

`session` runs it, `world` seeds the simulated server, and `live` holds the one
place that leans on SimCord internals (clock alignment and host-driven refresh).
"""
