"""The methods, one file each, on arrays and plain values: tokens and hashes, learned
boilerplate, MinHash duplicates, events and stories, cross-lingual links.  None knows
the job's files or which engine runs it."""
