"""Attention with ReCo's region constraints, computed without any token-pair-sized tensor."""
