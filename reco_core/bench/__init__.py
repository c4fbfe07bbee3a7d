"""`python -m reco_core bench`: side-by-side measurements that write records (see docs/BENCHMARKS.md)."""
