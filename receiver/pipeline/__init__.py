"""From an accepted alert to a recorded outcome: intake, the work queue, the stages, recovery, reconcile.

`pipeline.py` composes the stages in one place; read it first. Each stage is a small unit in `stages/`.
"""
