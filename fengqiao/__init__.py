"""Fengqiao Hub (枫桥): the thin core — CLI, settings, logging."""
