"""Dataset cards, shard building and verification, and the seeded webdataset input pipeline."""
