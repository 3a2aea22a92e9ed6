"""Model loading and student construction."""

from alembert.models.load import check_model_source, load_model, load_tokenizer, model_widths, num_layers
from alembert.models.student import StudentInit, build_student, copy_teacher_weights, student_layer_sources


__all__ = [
    "StudentInit",
    "build_student",
    "check_model_source",
    "copy_teacher_weights",
    "load_model",
    "load_tokenizer",
    "model_widths",
    "num_layers",
    "student_layer_sources",
]
