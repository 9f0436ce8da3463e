"""Clocks, histograms and latency reports."""
