"""Bulk scoring of a manifest into Parquet partitions (engine/bulk/run.py has the flow)."""
