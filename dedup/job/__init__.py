"""The batch job: the step sequence, the per-chunk tasks the engines run, and what the
job writes from their results (manifests, report, resumable checkpoints)."""
