"""Evaluation: clustering scores of class features and sample grids; FID, KID and IS (fid.py), during training
(quality.py) or of any images (score.py)."""
