"""Evaluation: accuracy, latency, throughput and energy of an artifact. Never changes the artifact."""
