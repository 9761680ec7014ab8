"""Evaluation: clustering scores of class features, sample grids (image quality lives in quality.py)."""
