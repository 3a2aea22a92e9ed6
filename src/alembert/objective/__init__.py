"""The distillation objective: a stage's matches resolved (:mod:`.matches`) into loss terms (:mod:`.terms`), layer maps
(:mod:`.layer_maps`), attention compatibility checks (:mod:`.checks`) and progressive stage planning
(:mod:`.progressive`)."""

from alembert.objective.matches import ResolvedMatch, objective_packing_blocker, resolve_matches
from alembert.objective.terms import DistillationObjective


__all__ = ["DistillationObjective", "ResolvedMatch", "objective_packing_blocker", "resolve_matches"]
