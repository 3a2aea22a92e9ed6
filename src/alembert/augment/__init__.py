"""TinyBERT data augmentation: masked-LM and word-vector replacements, cached as a task folder on disk."""

from alembert.augment.core import augment_texts, sample_variants
from alembert.augment.dataset import AugmentResult, augment_dataset, augmented_data_config
from alembert.augment.vectors import WordVectors, resolve_vector_files
from alembert.augment.words import STOP_WORDS, is_replaceable, split_words


__all__ = [
    "STOP_WORDS",
    "AugmentResult",
    "WordVectors",
    "augment_dataset",
    "augment_texts",
    "augmented_data_config",
    "is_replaceable",
    "resolve_vector_files",
    "sample_variants",
    "split_words",
]
