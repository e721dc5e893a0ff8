"""The PostgreSQL store's named statements (`queries.sql`), read once at import."""

from bot.store.queries import Statements, load_queries
from bot.store.rows import JOB_COLUMN_COUNT, JOB_COLUMNS

Q = load_queries(
    "bot.store.postgres", constants={"job_columns": JOB_COLUMNS, "job_marks": ", ".join(["%s"] * JOB_COLUMN_COUNT)}
)
STATEMENTS = Statements(Q, mark="%s")
