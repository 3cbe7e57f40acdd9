"""``make bench``: throughput and memory of the zoo's data paths and models."""
