"""The store on one SQLite file: one connection, group commit, SQLite's dialect."""
