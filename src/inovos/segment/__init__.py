"""Segment whole videos and data sets: readers -> features -> propagation -> files."""
