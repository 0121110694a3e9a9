"""Degradations: how each task turns a clean image into the input its models restore."""
