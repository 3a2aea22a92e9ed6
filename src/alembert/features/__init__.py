"""What a model computes for a loss: features of a forward pass (:mod:`.extract`), attention captured from
Q/K/V hooks (:mod:`.capture`), packed forward passes (:mod:`.packing`) and the teacher-output cache
(:mod:`.teacher_cache`)."""
