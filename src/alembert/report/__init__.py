"""Reports: one run's teacher-vs-student summary and model card (:mod:`.summary`), comparisons of several runs
(:mod:`.compare`) and their figures (:mod:`.plots`)."""
