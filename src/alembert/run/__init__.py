"""Whole runs: :func:`~alembert.run.distill.distill`, :func:`~alembert.run.finetune.finetune`, their shared
set-up (:mod:`.context`), teacher assistants, evaluation and the GLUE suite."""
