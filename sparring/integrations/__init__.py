"""Bridges from sparring's games and roles to other training libraries (trl.py: TRL's GRPOTrainer).

Imported by name (`from sparring.integrations.trl import GameTask`), never from `sparring/__init__`,
so sparring itself does not pull in `datasets` until a bridge is used.
"""
