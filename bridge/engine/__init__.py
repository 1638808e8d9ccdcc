"""The loop that moves records: intake, per-key scheduling, delivery with retries, commits,
rebalances and shutdown."""
