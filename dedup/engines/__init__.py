"""Engines decide where per-chunk work runs: this process, joblib worker processes, or a
Dask cluster."""
