"""Reasoning: planner -> procedure -> Steps; clinician edits re-run the dependants."""
from .api import ground, start_grounding, write_outputs
from .graph import Grounding

__all__ = ["ground", "start_grounding", "write_outputs", "Grounding"]
