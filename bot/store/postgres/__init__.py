"""The store on PostgreSQL: a connection pool, group commit on one thread, PostgreSQL's dialect."""
