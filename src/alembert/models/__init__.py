"""Model loading and student construction."""

from alembert.models.init import StudentInit
from alembert.models.load import check_model_source, load_model, load_tokenizer, model_widths, num_layers
from alembert.models.mobilebert import MOBILEBERT_PRESETS, build_mobilebert, copy_outer_weights, mobilebert_config
from alembert.models.student import build_student, copy_teacher_weights, student_layer_sources


__all__ = [
    "MOBILEBERT_PRESETS",
    "StudentInit",
    "build_mobilebert",
    "build_student",
    "check_model_source",
    "copy_outer_weights",
    "copy_teacher_weights",
    "load_model",
    "load_tokenizer",
    "mobilebert_config",
    "model_widths",
    "num_layers",
    "student_layer_sources",
]
