"""The per-article stages: pure functions of a chunk's records and their own section of
the config, run in worker processes by the job's tasks (parse, extract, clean, language,
embed)."""
