"""dedup: clean, language-tag, deduplicate and cluster multilingual news dumps."""

__version__ = "0.1.0"
