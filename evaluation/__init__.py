"""Evaluation: is what runs on the target what was trained? verify (every executor against
the simulator), metrics, data sets, the PyTorch reference, NeuroBench, the dense baseline."""
