"""Developer tools: benchmarks, the demo-company generator and companies whose future is known."""
