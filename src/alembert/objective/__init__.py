"""The distillation objective: a stage's matches resolved into loss terms (:mod:`.terms`), layer maps
(:mod:`.layer_maps`), attention compatibility checks (:mod:`.checks`) and progressive stage planning
(:mod:`.progressive`)."""

from alembert.objective.terms import DistillationObjective, ResolvedMatch, objective_packing_blocker, resolve_matches


__all__ = ["DistillationObjective", "ResolvedMatch", "objective_packing_blocker", "resolve_matches"]
