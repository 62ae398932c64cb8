"""The reliability and security campaign (docs/reliability.md): python -m benchmarks.campaign."""
